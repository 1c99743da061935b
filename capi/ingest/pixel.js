/*
 * capi-relay pixel.js: sends every Meta Pixel event to the relay as well, with the same event id,
 * so that Meta receives it from the browser and from the server and counts it once.
 *
 * Add it right after the Pixel's base code:
 *   <script src="https://RELAY/pixel.js" data-key="BROWSER_KEY"></script>
 *
 * What it does: it wraps the page's fbq. Every fbq('track', ...) and fbq('trackCustom', ...) gets
 * an eventID (the caller's own, or a new random one) that the Pixel sends, and the same event goes
 * to POST RELAY/browser?key=BROWSER_KEY (navigator.sendBeacon; fetch with keepalive when beacons
 * are refused) with the page URL, the referrer, the _fbp and _fbc cookies, fbclid from the URL and
 * the customer data the page gave fbq('init', pixel, {em: ...}) (advanced matching) or
 * capiRelay.setUserData({em: ..., ph: ...}) (to the relay only, not to the Pixel). Calls queued
 * before it ran get their eventID too; it works whether Meta's fbevents.js loads before or after
 * it. It never throws into the page, never waits for the relay, and does nothing visible when the
 * relay cannot be reached. No dependencies. Source of record: capi/ingest/pixel.js in capi-relay.
 */
(function () {
  "use strict";
  var FIELDS = ["em", "ph", "fn", "ln", "ct", "st", "zp", "country", "db", "ge", "external_id"];

  function newId() {
    try {
      if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    } catch (e) {}
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  function cookie(name) {
    var parts = ("; " + document.cookie).split("; " + name + "=");
    return parts.length > 1 ? parts.pop().split(";")[0] : undefined;
  }

  function queryParam(name) {
    try {
      return new URLSearchParams(window.location.search).get(name) || undefined;
    } catch (e) {
      return undefined;
    }
  }

  function start(script) {
    var key = script.getAttribute("data-key");
    if (!key || typeof window.fbq !== "function" || window.fbq.capiRelay) return;
    var endpoint = new URL("/browser?key=" + encodeURIComponent(key), script.src).href;
    var userData = {};

    function send(eventName, params, eventId) {
      var body = JSON.stringify({
        event_name: eventName,
        event_id: eventId,
        event_source_url: window.location.href,
        referrer_url: document.referrer || undefined,
        fbp: cookie("_fbp"),
        fbc: cookie("_fbc"),
        fbclid: queryParam("fbclid"),
        user_data: userData,
        custom_data: params,
      });
      try {
        var blob = new Blob([body], { type: "text/plain;charset=UTF-8" });
        if (navigator.sendBeacon && navigator.sendBeacon(endpoint, blob)) return;
      } catch (e) {}
      try {
        window
          .fetch(endpoint, {
            method: "POST",
            body: body,
            keepalive: true,
            mode: "no-cors",
            credentials: "include",
            headers: { "Content-Type": "text/plain;charset=UTF-8" },
          })
          .catch(function () {});
      } catch (e) {}
    }

    function remember(data) {
      if (!data || typeof data !== "object") return;
      for (var i = 0; i < FIELDS.length; i++) {
        var value = data[FIELDS[i]];
        if (typeof value === "string" && value) userData[FIELDS[i]] = value;
      }
    }

    // The relay-specific call: customer data for the relay's copies only.
    window.capiRelay = {
      setUserData: function (data) {
        try {
          remember(data);
        } catch (e) {}
      },
    };

    // One fbq call's arguments, as the Pixel should receive them.
    function handle(args) {
      var method = args[0];
      if (method === "init") {
        remember(args[2]);
        return args;
      }
      if ((method !== "track" && method !== "trackCustom") || typeof args[1] !== "string") {
        return args;
      }
      var params = args[2] && typeof args[2] === "object" ? args[2] : {};
      var options = {};
      if (args[3] && typeof args[3] === "object") {
        for (var name in args[3]) options[name] = args[3][name];
      }
      if (typeof options.eventID !== "string" || !options.eventID) options.eventID = newId();
      send(args[1], params, options.eventID);
      var out = [method, args[1], params, options];
      for (var j = 4; j < args.length; j++) out.push(args[j]);
      return out;
    }

    function safely(args) {
      try {
        return handle(args);
      } catch (e) {
        return args;
      }
    }

    var original = window.fbq;
    var wrapper = function () {
      var args = safely(Array.prototype.slice.call(arguments));
      // The base code's stub, unchanged in meaning: fbevents.js, once loaded, sets callMethod on
      // window.fbq (this wrapper); loaded before us, it set it on the original.
      if (wrapper.callMethod) return wrapper.callMethod.apply(wrapper, args);
      if (original.callMethod) return original.callMethod.apply(original, args);
      wrapper.queue.push(args);
    };
    for (var property in original) {
      if (Object.prototype.hasOwnProperty.call(original, property)) {
        wrapper[property] = original[property];
      }
    }
    wrapper.queue = original.queue || [];
    wrapper.push = wrapper;
    wrapper.capiRelay = true;
    for (var k = 0; k < wrapper.queue.length; k++) {
      wrapper.queue[k] = safely(Array.prototype.slice.call(wrapper.queue[k]));
    }
    window.fbq = wrapper;
    if (window._fbq === original) window._fbq = wrapper;
  }

  try {
    if (document.currentScript) start(document.currentScript);
  } catch (e) {}
})();
