/* Case Maker Press: read-along for the large-print web edition.
   Every spoken element is <span class="s" id="SENTENCE_ID" data-begin data-end> with the times of its
   audible clip in the sync map: the stretch of the narration that really is that sentence. Clips are in
   order and never overlap, but there can be gaps between them (unscripted speech, a false start), and
   a sentence the narrator did not read has no times at all (class "unread"): it is not part of the
   read-along, is never highlighted and cannot be played from. While the narration plays inside a
   clip, that sentence gets class "current" and aria-current="true" (not a live region: screen readers
   are not interrupted) and is scrolled into view, smoothly unless the reader prefers reduced motion;
   in a gap nothing is highlighted. With read-along on, every timed sentence can be
   clicked to play from it; for the keyboard the text is one stop in the tab order (a roving tabindex:
   the sentence being read, or the last one visited), the arrow keys move from sentence to sentence,
   Home and End go to the first and last, and Enter or Space plays from the focused one. With it off,
   the sentences are plain text again and leave the tab order. Without this script the page reads and
   the player plays as usual. */
(function () {
  "use strict";

  var STORE_KEY = "casemaker.readalong";
  var audio = document.getElementById("narration");
  var controls = document.getElementById("readalong-controls");
  var toggle = document.getElementById("readalong");
  if (!audio || !controls || !toggle) {
    return;
  }
  var spans = Array.prototype.slice.call(document.querySelectorAll("span.s[data-begin]"));
  if (!spans.length) {
    return;
  }
  var begins = spans.map(function (s) { return parseFloat(s.getAttribute("data-begin")); });
  var ends = spans.map(function (s) { return parseFloat(s.getAttribute("data-end")); });
  var indexOf = {};
  spans.forEach(function (s, i) { indexOf[s.id] = i; });
  var reducedMotion = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : null;
  var on = false;
  var current = -1;
  /* until a sentence is read or visited, the tab stop is the first sentence after the player */
  var rover = Math.max(0, spans.findIndex(function (s) {
    return controls.compareDocumentPosition(s) & Node.DOCUMENT_POSITION_FOLLOWING;
  }));
  var frame = 0;

  /* the sentence whose clip holds time t, or -1 (before the first, in a gap, after the last): the
     last clip that has begun at t (clips are in order and do not overlap), if it has not ended */
  function indexAt(t) {
    if (!(t >= begins[0])) {
      return -1;
    }
    var lo = 0;
    var hi = spans.length - 1;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (begins[mid] <= t) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return t < ends[lo] ? lo : -1;
  }

  function inView(el) {
    var r = el.getBoundingClientRect();
    var h = window.innerHeight || document.documentElement.clientHeight;
    return r.top >= h * 0.1 && r.bottom <= h * 0.85;
  }

  function setCurrent(i, scroll) {
    if (i === current) {
      return;
    }
    if (current >= 0) {
      spans[current].classList.remove("current");
      spans[current].removeAttribute("aria-current");
    }
    current = i;
    if (i < 0) {
      return;
    }
    var el = spans[i];
    el.classList.add("current");
    el.setAttribute("aria-current", "true");
    if (!sentenceOf(document.activeElement)) {
      setRover(i);   /* Tab into the text lands on the sentence being read (focus is never moved) */
    }
    if (scroll && !inView(el)) {
      var reduce = reducedMotion && reducedMotion.matches;
      el.scrollIntoView({ block: "center", inline: "nearest", behavior: reduce ? "auto" : "smooth" });
    }
  }

  function started() {
    return !audio.paused || audio.currentTime > 0;
  }

  function update() {
    if (!on) {
      return;
    }
    if (!started() || audio.ended) {
      setCurrent(-1, false);
      return;
    }
    setCurrent(indexAt(audio.currentTime + 0.001), !audio.paused);
  }

  function tick() {
    frame = 0;
    update();
    if (on && !audio.paused) {
      frame = window.requestAnimationFrame(tick);
    }
  }

  function startTicking() {
    if (!frame) {
      frame = window.requestAnimationFrame(tick);
    }
  }

  function playFrom(el) {
    var i = indexOf[el.id];
    if (i === undefined) {
      return;
    }
    audio.currentTime = begins[i];
    setCurrent(i, false);
    var p = audio.play();
    if (p && typeof p.catch === "function") {
      p.catch(function () { /* playback refused (no media, or no permission): the seek still stands */ });
    }
  }

  function sentenceOf(target) {
    var el = target && target.closest ? target.closest("span.s[data-begin]") : null;
    return el && indexOf[el.id] !== undefined ? el : null;
  }

  /* one sentence is in the tab order: the rover */
  function setRover(i) {
    if (i < 0 || i >= spans.length) {
      return;
    }
    if (on) {
      spans[rover].setAttribute("tabindex", "-1");
      spans[i].setAttribute("tabindex", "0");
    }
    rover = i;
  }

  function setOn(value) {
    on = value;
    document.documentElement.classList.toggle("readalong", on);
    spans.forEach(function (s, i) {
      if (on) {
        s.setAttribute("tabindex", i === rover ? "0" : "-1");
      } else {
        s.removeAttribute("tabindex");
      }
    });
    if (on) {
      update();
      if (!audio.paused) {
        startTicking();
      }
    } else {
      setCurrent(-1, false);
    }
    try {
      window.localStorage.setItem(STORE_KEY, on ? "on" : "off");
    } catch (e) { /* storage unavailable (private mode, file://): keep the choice for this page only */ }
  }

  document.addEventListener("click", function (ev) {
    if (!on || ev.button !== 0 || ev.defaultPrevented) {
      return;
    }
    var el = sentenceOf(ev.target);
    if (!el) {
      return;
    }
    var sel = window.getSelection ? window.getSelection() : null;
    if (sel && !sel.isCollapsed && sel.toString().trim()) {
      return; /* the reader is selecting text, not asking to play */
    }
    playFrom(el);
  });

  var MOVES = {ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1};

  document.addEventListener("keydown", function (ev) {
    if (!on || ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) {
      return;
    }
    var el = sentenceOf(ev.target);
    if (!el || ev.target !== el) {
      return;
    }
    var i = indexOf[el.id];
    var to = -1;
    if (MOVES[ev.key]) {
      to = Math.max(0, Math.min(spans.length - 1, i + MOVES[ev.key]));
    } else if (ev.key === "Home") {
      to = 0;
    } else if (ev.key === "End") {
      to = spans.length - 1;
    } else if (ev.key === "Enter" || ev.key === " " || ev.key === "Spacebar") {
      ev.preventDefault();
      playFrom(el);
      return;
    } else {
      return;
    }
    ev.preventDefault();
    setRover(to);
    spans[to].focus();
  });

  document.addEventListener("focusin", function (ev) {
    var el = on ? sentenceOf(ev.target) : null;
    if (el && ev.target === el) {
      setRover(indexOf[el.id]);
    }
  });

  ["timeupdate", "seeking", "seeked", "pause", "ended", "emptied"].forEach(function (name) {
    audio.addEventListener(name, update);
  });
  audio.addEventListener("play", startTicking);
  audio.addEventListener("playing", startTicking);

  toggle.addEventListener("change", function () { setOn(toggle.checked); });

  var stored = null;
  try {
    stored = window.localStorage.getItem(STORE_KEY);
  } catch (e) { /* no storage: default on */ }
  toggle.checked = stored !== "off";
  controls.hidden = false;
  setOn(toggle.checked);
})();
