/* Case Maker Press: the reader's own settings for the large-print web edition (WCAG 2.2 SC 1.4.8).
   Loaded synchronously in <head>, before the body is parsed: it reads the settings saved in
   localStorage (one key, "casemaker.reader-settings", a JSON object; anything unreadable or unknown
   is ignored value by value) and sets one attribute on <html> for each, so the page is painted with
   them from the start:
     data-theme            auto | light | dark | cream | yellow-on-black | black-on-yellow
     data-text-size        100 | 125 | 150 | 200 | 250 | 300        (per cent of the large-print size)
     data-line-height      1.6 | 1.8 | 2 | 2.4
     data-letter-spacing   normal | 0.12 | 0.2                       (em)
     data-word-spacing     normal | 0.16 | 0.32                      (em)
     data-font             default | atkinson                        (Atkinson Hyperlegible)
     data-line-width       narrow | medium | wide                    (about 50, 66, 80 characters)
     data-word-highlight   off | on        (read by the read-along; the highlighting itself is not here)
   largeprint.css does all the styling from these attributes. Once the document is parsed the
   settings form in the page header is filled in and wired: a change applies at once and is saved;
   "Reset" restores the defaults (and says so in a polite status message); Escape in the panel closes
   it. Pages open in other tabs follow a change (the storage event), and a page restored from the
   back/forward cache reads the settings again. Without scripting nothing here runs: the panel stays
   hidden (largeprint.css shows it only when <html> has data-theme), the page keeps its defaults and
   follows the system's light or dark preference. */
(function () {
  "use strict";

  var KEY = "casemaker.reader-settings";
  var SETTINGS = [
    /* [name in the store and the form, allowed values (the first is the default)] */
    ["theme", ["auto", "light", "dark", "cream", "yellow-on-black", "black-on-yellow"]],
    ["text-size", ["100", "125", "150", "200", "250", "300"]],
    ["line-height", ["1.6", "1.8", "2", "2.4"]],
    ["letter-spacing", ["normal", "0.12", "0.2"]],
    ["word-spacing", ["normal", "0.16", "0.32"]],
    ["font", ["default", "atkinson"]],
    ["line-width", ["medium", "narrow", "wide"]],
    ["word-highlight", ["off", "on"]]
  ];
  var root = document.documentElement;

  function defaults() {
    var out = {};
    SETTINGS.forEach(function (s) { out[s[0]] = s[1][0]; });
    return out;
  }

  /* the saved settings over the defaults; a value that is not one of the allowed ones is dropped */
  function load() {
    var out = defaults();
    var saved = null;
    try {
      saved = JSON.parse(window.localStorage.getItem(KEY) || "null");
    } catch (e) {
      saved = null;        /* storage unavailable (a sandbox, a privacy setting) or not JSON */
    }
    if (saved && typeof saved === "object" && !Array.isArray(saved)) {
      SETTINGS.forEach(function (s) {
        var v = saved[s[0]];
        if (typeof v === "string" && s[1].indexOf(v) >= 0) {
          out[s[0]] = v;
        }
      });
    }
    return out;
  }

  function save(values) {
    try {
      window.localStorage.setItem(KEY, JSON.stringify(values));
    } catch (e) {
      /* not saved: the settings still apply to this page */
    }
  }

  function apply(values) {
    SETTINGS.forEach(function (s) {
      if (root.getAttribute("data-" + s[0]) !== values[s[0]]) {
        root.setAttribute("data-" + s[0], values[s[0]]);
      }
    });
  }

  var current = load();
  apply(current);

  /* what tests and other scripts may read: the names, allowed values and defaults */
  window.casemakerReaderSettings = Object.freeze({
    key: KEY,
    settings: SETTINGS.map(function (s) { return {name: s[0], values: s[1].slice(), initial: s[1][0]}; })
  });

  function wire() {
    var form = document.getElementById("reader-settings");
    var toggle = document.getElementById("reader-settings-toggle");
    var status = document.getElementById("reader-settings-status");
    if (!form || !toggle) {
      return;
    }

    function fill(values) {
      SETTINGS.forEach(function (s) {
        var field = form.elements[s[0]];
        if (!field) {
          return;
        }
        if (field.type === "checkbox") {
          field.checked = values[s[0]] === "on";
        } else {
          /* a RadioNodeList: setting its value checks the radio button of that value */
          field.value = values[s[0]];
        }
      });
    }

    function read() {
      var out = defaults();
      SETTINGS.forEach(function (s) {
        var field = form.elements[s[0]];
        if (!field) {
          return;
        }
        var v = field.type === "checkbox" ? (field.checked ? "on" : "off") : field.value;
        if (s[1].indexOf(v) >= 0) {
          out[s[0]] = v;
        }
      });
      return out;
    }

    function say(text) {
      if (!status) {
        return;
      }
      /* a new text node each time, so that the same words are announced again */
      status.textContent = "";
      window.setTimeout(function () { status.textContent = text; }, 50);
    }

    function setOpen(open) {
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      form.hidden = !open;
    }

    fill(current);
    setOpen(false);

    toggle.addEventListener("click", function () {
      setOpen(toggle.getAttribute("aria-expanded") !== "true");
    });
    form.addEventListener("change", function () {
      current = read();
      apply(current);
      save(current);
      if (status) {
        status.textContent = "";
      }
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();     /* nothing is ever sent anywhere */
    });
    var reset = document.getElementById("reader-settings-reset");
    if (reset) {
      reset.addEventListener("click", function () {
        current = defaults();
        fill(current);
        apply(current);
        save(current);
        say("Reader settings reset to the defaults.");
      });
    }
    form.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && !e.defaultPrevented) {
        e.preventDefault();
        setOpen(false);
        toggle.focus();
      }
    });

    function refresh() {
      current = load();
      apply(current);
      fill(current);
    }
    /* another page of the site changed them (same origin: another tab or window) */
    window.addEventListener("storage", function (e) {
      if (e.key === KEY || e.key === null) {
        refresh();
      }
    });
    /* back to a page kept in the back/forward cache, from a page where they changed */
    window.addEventListener("pageshow", function (e) {
      if (e.persisted) {
        refresh();
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wire);
  } else {
    wire();
  }
}());
