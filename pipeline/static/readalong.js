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
   the player plays as usual.
   Word read-along, a reader's setting (<html data-word-highlight="on">, written by the settings panel
   and followed live): a sentence whose words the sync map timed carries data-words="b1 e1 b2 e2 ..."
   (seconds); its words are wrapped in <span class="w"> (once, the first time the setting is on; text
   nodes only, so emphasis stays), the word being read inside the sentence being read gets class
   "current-word" (the last word that has begun), and a click on a word plays from it. The keyboard
   stays at sentence level. With the setting off the word spans are inert. */
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
  var root = document.documentElement;
  var wordsOn = false;
  var wrapped = false;
  var wordInfo = {};        /* sentence index -> {times: [b, e, ...], pieces: [[elements of word k], ...]} */
  var litWord = null;       /* the pieces of the highlighted word */

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

  /* ------------------------------------------------------------------ words */

  /* the sentence's words wrapped in span.w, in text order: a word split by markup ("<strong>bold</strong>,")
     is one word of several pieces; null when its text does not have as many words as data-words times */
  function wrapWords(el, count) {
    var text = el.textContent.trim();
    if (!text || text.split(/\s+/).length !== count) {
      return null;
    }
    var walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    var nodes = [];
    for (var n = walker.nextNode(); n; n = walker.nextNode()) {
      nodes.push(n);
    }
    var pieces = [];
    var joined = false;   /* the text before ended inside a word */
    nodes.forEach(function (node) {
      var runs = node.data.match(/\s+|\S+/g) || [];
      var frag = document.createDocumentFragment();
      runs.forEach(function (run, k) {
        if (/^\s/.test(run)) {
          frag.appendChild(document.createTextNode(run));
          joined = false;
          return;
        }
        var w = document.createElement("span");
        w.className = "w";
        w.textContent = run;
        if (k === 0 && joined && pieces.length) {
          pieces[pieces.length - 1].push(w);
        } else {
          pieces.push([w]);
        }
        w.wordIndex = pieces.length - 1;
        frag.appendChild(w);
        joined = true;
      });
      node.parentNode.replaceChild(frag, node);
    });
    return pieces.length === count ? pieces : null;
  }

  function wrapAll() {
    if (wrapped) {
      return;
    }
    wrapped = true;
    spans.forEach(function (el, i) {
      var attr = el.getAttribute("data-words");
      if (!attr) {
        return;
      }
      var times = attr.trim().split(/\s+/).map(parseFloat);
      var pieces = times.length % 2 ? null : wrapWords(el, times.length / 2);
      if (pieces) {
        wordInfo[i] = {times: times, pieces: pieces};
      }
    });
  }

  /* the last word of sentence i that has begun at t, or -1 */
  function wordAt(info, t) {
    var k = -1;
    for (var j = 0; j < info.pieces.length && info.times[2 * j] <= t; j++) {
      k = j;
    }
    return k;
  }

  function lightWord(pieces) {
    if (pieces === litWord) {
      return;
    }
    (litWord || []).forEach(function (w) { w.classList.remove("current-word"); });
    litWord = pieces;
    (pieces || []).forEach(function (w) { w.classList.add("current-word"); });
  }

  function updateWord(t) {
    var info = wordsOn && current >= 0 ? wordInfo[current] : null;
    var k = info ? wordAt(info, t) : -1;
    lightWord(k >= 0 ? info.pieces[k] : null);
  }

  function setWordsOn(value) {
    wordsOn = value;
    if (wordsOn) {
      wrapAll();
      update();
    } else {
      lightWord(null);
    }
  }

  /* ------------------------------------------------------------------ sentences */

  function setCurrent(i, scroll) {
    if (i === current) {
      return;
    }
    lightWord(null);
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
    var t = audio.currentTime + 0.001;
    setCurrent(indexAt(t), !audio.paused);
    updateWord(t);
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

  /* play from sentence el, or from its word k when k is given (within the sentence's clip) */
  function playFrom(el, k) {
    var i = indexOf[el.id];
    if (i === undefined) {
      return;
    }
    var t = begins[i];
    if (k !== undefined && wordInfo[i]) {
      t = Math.min(Math.max(wordInfo[i].times[2 * k], begins[i]), ends[i] - 0.01);
    }
    audio.currentTime = t;
    setCurrent(i, false);
    updateWord(t + 0.001);
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
    var word = wordsOn && ev.target.closest ? ev.target.closest("span.w") : null;
    playFrom(el, word && el.contains(word) ? word.wordIndex : undefined);
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

  if (window.MutationObserver) {
    new MutationObserver(function () {
      setWordsOn(root.getAttribute("data-word-highlight") === "on");
    }).observe(root, {attributes: true, attributeFilter: ["data-word-highlight"]});
  }
  setWordsOn(root.getAttribute("data-word-highlight") === "on");
})();
