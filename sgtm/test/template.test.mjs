// node --test sgtm/test/ : the sGTM tag template, its sandboxed JavaScript run against stand-ins
// of the sandbox APIs (harness.mjs), and static checks of what the sandbox allows.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { runTag, sections } from './harness.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EVENT_DATA = JSON.parse(
  readFileSync(join(ROOT, 'tests', 'fixtures', 'sgtm', 'purchase_event_data.json'), 'utf8'),
);
const COOKIES = { _fbp: 'fb.1.1736160000000.1122334455', _fbc: 'fb.1.1736150000000.IwAR_click' };
const DATA = {
  relayUrl: 'https://capi-ingest-abc123-ew.a.run.app/',
  apiKey: 'sgtm-key-1',
  pixelId: '1234567890',
  testEventCode: 'TEST12345',
  sendCookies: true,
  debugLog: false,
};

const parts = sections();
const code = parts.SANDBOXED_JS_FOR_SERVER;

test('the template has the sections the sGTM template editor imports', () => {
  for (const name of [
    'TERMS_OF_SERVICE', 'INFO', 'TEMPLATE_PARAMETERS', 'SANDBOXED_JS_FOR_SERVER',
    'SERVER_PERMISSIONS', 'TESTS', 'NOTES',
  ]) {
    assert.ok(name in parts, `missing ___${name}___`);
  }
  const info = JSON.parse(parts.INFO);
  assert.equal(info.type, 'TAG');
  assert.deepEqual(info.containerContexts, ['SERVER']);
  assert.equal(info.id, 'cvt_temp_public_id');
});

test('the fields: relay URL and API key required, the rest optional', () => {
  const params = Object.fromEntries(JSON.parse(parts.TEMPLATE_PARAMETERS).map((p) => [p.name, p]));
  for (const name of ['relayUrl', 'apiKey', 'pixelId', 'testEventCode', 'eventName', 'sendCookies']) {
    assert.ok(params[name], `no ${name} field`);
  }
  const required = (p) => (p.valueValidators || []).some((v) => v.type === 'NON_EMPTY');
  assert.ok(required(params.relayUrl) && required(params.apiKey));
  assert.ok(!required(params.pixelId) && !required(params.testEventCode));
  assert.equal(params.sendCookies.defaultValue, true);
  const urlRule = new RegExp(params.relayUrl.valueValidators.find((v) => v.type === 'REGEX').args[0]);
  assert.ok(urlRule.test('https://capi-ingest-abc123-ew.a.run.app'));
  assert.ok(urlRule.test('http://localhost:8080'));
  assert.ok(!urlRule.test('http://relay.example.com'));
  assert.ok(!urlRule.test('relay.example.com'));
  const pixelRule = new RegExp(params.pixelId.valueValidators[0].args[0]);
  assert.ok(pixelRule.test('') && pixelRule.test('123') && !pixelRule.test('12a'));
});

test('posts the event data, the Meta cookies and the options to /sgtm with the API key', async () => {
  const { calls, outcome, required } = await runTag({ data: DATA, eventData: EVENT_DATA, cookies: COOKIES });
  assert.deepEqual(outcome, { success: 1, failure: 0 });
  assert.equal(calls.requests.length, 1);
  const [request] = calls.requests;
  assert.equal(request.url, 'https://capi-ingest-abc123-ew.a.run.app/sgtm');
  assert.equal(request.options.method, 'POST');
  assert.equal(request.options.headers['Content-Type'], 'application/json');
  assert.equal(request.options.headers['X-API-Key'], 'sgtm-key-1');
  assert.ok(request.options.timeout > 0 && request.options.timeout <= 10000);
  const body = JSON.parse(request.body);
  assert.deepEqual(body.event_data, EVENT_DATA);
  assert.deepEqual(body.cookies, COOKIES);
  assert.equal(body.pixel_id, '1234567890');
  assert.equal(body.test_event_code, 'TEST12345');
  assert.equal(body.event_time, 1736170000123);
  assert.ok(!('event_name' in body));
  assert.deepEqual(calls.cookieReads.sort(), ['_fbc', '_fbp']);
  assert.deepEqual(calls.logs, []); // nothing logged unless asked
  assert.ok(required.includes('JSON') && required.includes('sendHttpRequest'));
});

test('a relay URL that already names the route is used as is', async () => {
  for (const relayUrl of ['https://relay.example.com/sgtm', 'https://relay.example.com/sgtm/', ' https://relay.example.com ']) {
    const { calls } = await runTag({ data: { ...DATA, relayUrl }, eventData: EVENT_DATA });
    assert.equal(calls.requests[0].url, 'https://relay.example.com/sgtm');
  }
});

test('optional fields left empty are not sent; cookies only when present and wanted', async () => {
  const data = { relayUrl: 'https://relay.example.com', apiKey: 'k', pixelId: '', testEventCode: ' ', sendCookies: true };
  const { calls } = await runTag({ data, eventData: EVENT_DATA, cookies: { _fbp: COOKIES._fbp } });
  const body = JSON.parse(calls.requests[0].body);
  assert.deepEqual(Object.keys(body).sort(), ['cookies', 'event_data', 'event_time']);
  assert.deepEqual(body.cookies, { _fbp: COOKIES._fbp });
  const noCookies = await runTag({ data: { ...data, sendCookies: false }, eventData: EVENT_DATA, cookies: COOKIES });
  assert.ok(!('cookies' in JSON.parse(noCookies.calls.requests[0].body)));
  assert.deepEqual(noCookies.calls.cookieReads, []);
});

test('the event name override is sent', async () => {
  const { calls } = await runTag({ data: { ...DATA, eventName: 'Lead' }, eventData: EVENT_DATA });
  assert.equal(JSON.parse(calls.requests[0].body).event_name, 'Lead');
});

test('a non-2xx answer or a failed request fails the tag, once', async () => {
  for (const statusCode of [400, 401, 403, 503]) {
    const { outcome } = await runTag({
      data: DATA,
      eventData: EVENT_DATA,
      answer: Promise.resolve({ statusCode, headers: {}, body: '{}' }),
    });
    assert.deepEqual(outcome, { success: 0, failure: 1 }, `status ${statusCode}`);
  }
  const timedOut = await runTag({
    data: { ...DATA, debugLog: true },
    eventData: EVENT_DATA,
    answer: Promise.reject({ reason: 'timed_out' }),
  });
  assert.deepEqual(timedOut.outcome, { success: 0, failure: 1 });
  assert.match(timedOut.calls.logs[0], /timed_out/);
});

test('debug logging shows the answer, never the API key', async () => {
  const { calls } = await runTag({ data: { ...DATA, debugLog: true }, eventData: EVENT_DATA });
  assert.equal(calls.logs.length, 1);
  assert.match(calls.logs[0], /^capi-relay answered 202/);
  assert.ok(!calls.logs.join('').includes('sgtm-key-1'));
});

// -- what the sandbox allows ----------------------------------------------------------------------

const stripped = code
  .replace(/\/\/.*$/gm, '')
  .replace(/'(?:[^'\\]|\\.)*'/g, "''")
  .replace(/"(?:[^"\\]|\\.)*"/g, '""');

test('only language features the sandbox supports', () => {
  const forbidden = [
    [/\bnew\s+[A-Za-z_$]/, 'new'],
    [/\bthis\b/, 'this'],
    [/`/, 'template literals'],
    [/\bclass\b/, 'class'],
    [/\bfor\s*\([^)]*\bof\b/, 'for...of'],
    [/\basync\b|\bawait\b/, 'async/await'],
    [/\.\.\./, 'spread'],
    [/\btypeof\b/, 'typeof (use getType)'],
    [/\b(window|document|console|setTimeout|globalThis|eval|Function)\b/, 'browser or node globals'],
    [/(^|[=(,:!&|?{};]\s*)\/[^/*]/m, 'regular expression literals'],
  ];
  for (const [pattern, what] of forbidden) {
    assert.ok(!pattern.test(stripped), `the sandbox has no ${what}`);
  }
});

test('every API is required before use, and every permission the APIs need is declared', () => {
  const requiredApis = [...code.matchAll(/require\('([^']+)'\)/g)].map((m) => m[1]);
  const permissions = JSON.parse(parts.SERVER_PERMISSIONS).map((p) => p.instance.key.publicId);
  const needs = {
    getAllEventData: 'read_event_data',
    getEventData: 'read_event_data',
    getCookieValues: 'get_cookies',
    sendHttpRequest: 'send_http',
    logToConsole: 'logging',
    getRequestHeader: 'read_request',
  };
  for (const api of requiredApis) {
    if (needs[api]) assert.ok(permissions.includes(needs[api]), `${api} needs ${needs[api]}`);
  }
  for (const permission of permissions) {
    assert.ok(
      Object.entries(needs).some(([api, p]) => p === permission && requiredApis.includes(api)),
      `permission ${permission} is declared but not used`,
    );
  }
  for (const global of ['JSON', 'Math', 'Object']) {
    if (new RegExp(`\\b${global}\\.`).test(stripped)) {
      assert.ok(requiredApis.includes(global), `${global} must be required`);
    }
  }
  const cookiePermission = JSON.parse(parts.SERVER_PERMISSIONS).find(
    (p) => p.instance.key.publicId === 'get_cookies',
  );
  const allowed = cookiePermission.instance.param
    .find((p) => p.key === 'cookieNames')
    .value.listItem.map((i) => i.string);
  const read = [...code.matchAll(/firstCookie\('([^']+)'\)/g)].map((m) => m[1]);
  assert.deepEqual(read.sort(), allowed.sort());
});
