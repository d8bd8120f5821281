/* Case Maker Press: the listening bar of the large-print web edition.
   The page has <audio id="narration" controls> (the player without scripting) and a hidden
   <div id="player" data-part="ID">: real buttons for play/pause, back 15 s and forward 30 s, a speed
   select, the part's sections (buttons with data-begin) and a "Resume at 4:12" button. This script shows
   the bar and hides the native player. The speed is kept across pages and the position in each part is
   remembered (localStorage; saved every few seconds while playing, on pause and when the page is left,
   forgotten when the part has been heard to the end) and offered on return, never played by itself.
   What the reader does is announced politely (one role="status" line, on play, pause, a seek, a speed or
   a section: never on the clock's tick); the elapsed time beside it is plain text. */
(function () {
  "use strict";

  var audio = document.getElementById("narration");
  var bar = document.getElementById("player");
  if (!audio || !bar) {
    return;
  }
  var part = bar.getAttribute("data-part");
  var POS_KEY = "casemaker.position." + part;
  var RATE_KEY = "casemaker.speed";
  var SAVE_EVERY = 5;
  var $ = function (id) { return document.getElementById(id); };
  var play = $("player-play");
  var rate = $("player-rate");
  var resume = $("player-resume");
  var elapsed = $("player-elapsed");
  var total = $("player-total");
  var status = $("player-status");
  var touched = false;     /* played on this page: only then is the position worth remembering */
  var saved = -1;
  var shown = "";
  var told = 0;            /* when the bar last said what it did (the play that follows need not be told) */

  function store(key, value) {
    try {
      if (value === null) {
        window.localStorage.removeItem(key);
      } else {
        window.localStorage.setItem(key, String(value));
      }
    } catch (e) { /* no storage (private mode, file://): nothing is remembered */ }
  }

  function stored(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (e) {
      return null;
    }
  }

  /* "4:12", "1:02:03" */
  function clock(t) {
    t = Math.max(0, Math.floor(t || 0));
    var h = Math.floor(t / 3600);
    var m = Math.floor(t / 60) % 60;
    var s = t % 60;
    return (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  function length() {
    return isFinite(audio.duration) ? audio.duration : NaN;
  }

  function say(text) {
    /* a changed text is read once; the same text again is set through a blank so it is read again */
    told = Date.now();
    if (status.textContent === text) {
      status.textContent = "";
    }
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  function where() {
    var d = length();
    return clock(audio.currentTime) + (isNaN(d) ? "" : " of " + clock(Math.round(d)));
  }

  function showTime() {
    var now = clock(audio.currentTime);
    if (now !== shown) {
      shown = now;
      elapsed.textContent = now;
    }
  }

  function showState() {
    play.textContent = audio.paused ? "Play" : "Pause";
  }

  function save(force) {
    if (!touched) {
      return;
    }
    var t = audio.currentTime;
    if (force || Math.abs(t - saved) >= SAVE_EVERY) {
      saved = t;
      store(POS_KEY, t.toFixed(1));
    }
  }

  function start() {
    var p = audio.play();
    if (p && typeof p.catch === "function") {
      p.catch(function () { /* playback refused: the button still says Play */ });
    }
  }

  function seek(t) {
    var d = length();
    audio.currentTime = Math.max(0, isNaN(d) ? t : Math.min(t, d));
    touched = true;
    showTime();
  }

  play.addEventListener("click", function () {
    if (audio.paused) {
      start();
    } else {
      audio.pause();
    }
  });
  $("player-back").addEventListener("click", function () {
    seek(audio.currentTime - 15);
    say("Back 15 seconds, at " + where());
  });
  $("player-forward").addEventListener("click", function () {
    seek(audio.currentTime + 30);
    say("Forward 30 seconds, at " + where());
  });

  function setRate(r, announce) {
    audio.defaultPlaybackRate = r;
    audio.playbackRate = r;
    if (announce) {
      say("Speed " + r + " times");
    }
  }
  rate.addEventListener("change", function () {
    var r = parseFloat(rate.value);
    store(RATE_KEY, rate.value);
    setRate(r, true);
  });
  var keptRate = stored(RATE_KEY);
  if (keptRate && rate.querySelector('option[value="' + keptRate + '"]')) {
    rate.value = keptRate;
    setRate(parseFloat(keptRate), false);
  }

  Array.prototype.forEach.call(bar.querySelectorAll(".player-sections button[data-begin]"), function (b) {
    b.addEventListener("click", function () {
      seek(parseFloat(b.getAttribute("data-begin")));
      say("Section: " + b.firstChild.textContent.trim() + ", playing from " + where());
      start();
    });
  });

  var from = parseFloat(stored(POS_KEY));
  if (from >= 1) {
    resume.textContent = "Resume at " + clock(from);
    resume.hidden = false;
    resume.addEventListener("click", function () {
      seek(from);
      say("Resumed: playing from " + where());
      start();
    });
  }

  audio.addEventListener("play", function () {
    touched = true;
    if (document.activeElement === resume) {
      play.focus();   /* the button goes away: the keyboard stays in the bar, on Pause */
    }
    resume.hidden = true;
    showState();
    if (Date.now() - told > 500) {
      say("Playing, at " + where());
    }
  });
  audio.addEventListener("pause", function () {
    showState();
    save(true);
    if (!audio.ended) {
      say("Paused at " + where());
    }
  });
  audio.addEventListener("ended", function () {
    showState();
    touched = false;
    store(POS_KEY, null);
    say("The end of this part");
  });
  audio.addEventListener("timeupdate", function () {
    showTime();
    if (!audio.paused) {
      save(false);
    }
  });
  audio.addEventListener("durationchange", function () {
    if (!isNaN(length())) {
      total.textContent = clock(Math.round(length()));
    }
  });
  audio.addEventListener("loadedmetadata", function () {
    /* a new source starts at the default rate: keep the reader's */
    audio.playbackRate = audio.defaultPlaybackRate;
  });
  window.addEventListener("pagehide", function () { save(true); });

  audio.removeAttribute("controls");
  audio.hidden = true;
  bar.hidden = false;
  showState();
  showTime();
})();
