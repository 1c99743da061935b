// Sends Conversions API events with Meta's Node business SDK, unmodified, to the URL in
// RELAY_URL, the way docs/SOURCES.md tells a user to ("Point an existing integration at the
// relay"): the one-line override of the SDK's Graph base URL below. Prints one JSON line:
// {"ok": true, "events_received", "fbtrace_id", "messages"} or {"ok": false, "status", "error"}.
//
// Usage: RELAY_URL=http://127.0.0.1:8080 node send_events.js '<json spec>'
//   spec: {"token", "pixel", "test_event_code"?, "events": [{"event_name", "event_time",
//          "event_id", "event_source_url", "email", "phone", "ip", "user_agent", "value",
//          "currency"}]}
'use strict';

const bizSdk = require('facebook-nodejs-business-sdk');

// The override: the SDK has no base-URL option, so its static GRAPH getter is replaced.
Object.defineProperty(bizSdk.FacebookAdsApi, 'GRAPH', { get: () => process.env.RELAY_URL });

const { EventRequest, ServerEvent, UserData, CustomData } = bizSdk;
const spec = JSON.parse(process.argv[2]);

const events = spec.events.map((e) => {
  const userData = new UserData()
    .setEmails([e.email])
    .setPhones([e.phone])
    .setClientIpAddress(e.ip)
    .setClientUserAgent(e.user_agent);
  const customData = new CustomData().setCurrency(e.currency).setValue(e.value);
  return new ServerEvent()
    .setEventName(e.event_name)
    .setEventTime(e.event_time)
    .setEventId(e.event_id)
    .setEventSourceUrl(e.event_source_url)
    .setActionSource('website')
    .setUserData(userData)
    .setCustomData(customData);
});

const request = new EventRequest(spec.token, spec.pixel).setEvents(events);
if (spec.test_event_code) {
  request.setTestEventCode(spec.test_event_code);
}

request.execute().then(
  (response) => {
    console.log(JSON.stringify({
      ok: true,
      events_received: response.events_received,
      fbtrace_id: response.fbtrace_id,
      messages: response.messages,
    }));
  },
  (err) => {
    const body = err.response || {};
    console.log(JSON.stringify({ ok: false, status: err.status, error: body }));
  },
);
