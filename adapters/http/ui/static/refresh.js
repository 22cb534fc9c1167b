// The overview's figures, fetched again every few seconds and put in place.
// The only script of the console; the page works without it (a <noscript> refresh).
(function () {
  "use strict";
  var box = document.getElementById("figures");
  if (!box || !box.dataset.src) {
    return;
  }
  var every = Number(box.dataset.every) || 15000;

  function later(delay) {
    window.setTimeout(refresh, delay);
  }

  function refresh() {
    fetch(box.dataset.src, { credentials: "same-origin", redirect: "manual", cache: "no-store" })
      .then(function (answer) {
        if (answer.type === "opaqueredirect" || answer.status === 401) {
          // Signed out meanwhile: stop; the next navigation shows the sign-in page.
          box.dataset.state = "signed-out";
          return;
        }
        if (!answer.ok) {
          throw new Error("HTTP " + answer.status);
        }
        return answer.text().then(function (html) {
          // Rendered by the server with every value escaped, like the page itself.
          box.innerHTML = html;
          box.dataset.state = "fresh";
          later(every);
        });
      })
      .catch(function () {
        // The bot restarting or the network down: try again, less often.
        box.dataset.state = "stale";
        later(every * 4);
      });
  }

  later(every);
})();
