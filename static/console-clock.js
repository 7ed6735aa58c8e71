// Keeps the incident pages' 72-hour clocks current. The server writes the words ("5 h 3 min
// left", "overdue by 2 h 10 min") into every element with a data-deadline (an RFC 3339 instant),
// so the page is right without JavaScript; this only rewrites them each minute, with the same
// wording as `time_left_words` in src/web/console/incident_clock.rs.
(function () {
  "use strict";
  function span(ms) {
    var minutes = Math.floor(ms / 60000);
    if (minutes >= 72 * 60) {
      return Math.floor(minutes / 1440) + " days " + Math.floor((minutes % 1440) / 60) + " h";
    }
    if (minutes >= 60) {
      return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
    }
    if (minutes > 0) {
      return minutes + " min";
    }
    return "less than 1 min";
  }
  function words(left) {
    return left >= 0 ? span(left) + " left" : "overdue by " + span(-left);
  }
  function tick() {
    var now = Date.now();
    var clocks = document.querySelectorAll("[data-deadline]");
    for (var i = 0; i < clocks.length; i++) {
      var deadline = Date.parse(clocks[i].getAttribute("data-deadline"));
      if (!isNaN(deadline)) {
        clocks[i].textContent = words(deadline - now);
        clocks[i].classList.toggle("warn", deadline < now);
        clocks[i].classList.toggle("muted", deadline >= now);
      }
    }
  }
  // Once now too: a page restored from the back/forward cache shows the time it was left at.
  tick();
  setInterval(tick, 60000);
})();
