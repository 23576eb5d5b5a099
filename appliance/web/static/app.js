// The page's only script (no inline script: the Content-Security-Policy forbids it).
// Every text from the server is put in with textContent, never as HTML.
"use strict";

function followJobLog(pre) {
  const url = pre.dataset.follow;
  let after = Number(pre.dataset.after || 0);
  const state = document.getElementById("job-state");
  async function poll() {
    let done = false;
    try {
      const response = await fetch(url + "?after=" + after, {credentials: "same-origin"});
      if (response.ok) {
        const job = await response.json();
        for (const line of job.lines) {
          const span = document.createElement("span");
          span.className = line.stream;
          span.textContent = line.line + "\n";
          pre.appendChild(span);
          after = line.seq;
        }
        if (job.lines.length) pre.scrollTop = pre.scrollHeight;
        if (state) { state.textContent = job.state; state.className = "state " + job.state; }
        done = ["succeeded", "failed", "interrupted"].includes(job.state) && job.lines.length === 0;
      }
    } catch (error) { /* the daemon may be restarting: try again */ }
    if (!done) setTimeout(poll, 1000);
  }
  poll();
}

function copyButtons() {
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy).textContent;
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch (error) {
        const range = document.createRange();  // no clipboard (plain HTTP): select it for Ctrl-C
        range.selectNodeContents(document.getElementById(button.dataset.copy));
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Selected: press Ctrl-C";
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const pre = document.getElementById("job-log");
  if (pre) followJobLog(pre);
  copyButtons();
});
