// The storefront's little script: a form sent once stays sent (a double click is one order),
// and an order page follows its saga until it settles.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches("[data-once]")) return;
  if (form.dataset.sent) {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "yes";
  form.querySelectorAll("button").forEach((button) => button.setAttribute("aria-disabled", "true"));
});

function follow(status) {
  const url = status.dataset.poll;
  if (!url) return;
  let tries = 0;
  const tick = async () => {
    tries += 1;
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" } });
      if (answer.ok) {
        const order = await answer.json();
        const waitFor = status.dataset.waitFor;
        const done = waitFor === "settled" ? order.status !== "pending" : order.status === waitFor;
        if (done) {
          // The settled order, with its reason and refund, without the "wait" in the address.
          window.location.replace(window.location.pathname);
          return;
        }
      }
    } catch (error) {
      // the shop is away for a moment: look again
    }
    if (tries < 120) window.setTimeout(tick, 1000);
  };
  window.setTimeout(tick, 500);
}

document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("status");
  if (status) follow(status);
});
