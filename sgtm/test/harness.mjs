// Runs the sandboxed JavaScript of sgtm/capi-relay-tag.tpl in node, against stand-ins of the
// sGTM sandbox APIs it requires. The code runs in a fresh V8 context whose usual globals
// (JSON, Math, Object, Date, console, setTimeout, ...) are removed, as in the sandbox, so a
// missing require() fails here as it would in the template editor.
//
// As a command: node sgtm/test/harness.mjs --emit EVENT_DATA.json [--cookies JSON] [--data JSON]
// prints the request the tag would send, as JSON ({url, options, body}).

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const HERE = dirname(fileURLToPath(import.meta.url));
export const TEMPLATE_PATH = join(HERE, '..', 'capi-relay-tag.tpl');

// Globals the sandbox does not have (the template must require() what it needs).
const HIDDEN_GLOBALS = [
  'JSON', 'Math', 'Object', 'Date', 'Array', 'String', 'Number', 'Boolean', 'Promise',
  'RegExp', 'Error', 'console', 'setTimeout', 'setInterval', 'eval', 'Function', 'globalThis',
  'encodeURIComponent', 'decodeURIComponent', 'encodeURI', 'parseInt', 'parseFloat',
  'require', 'process', 'window', 'document', 'fetch',
];

/** The template's sections: {TERMS_OF_SERVICE: text, INFO: text, ...}. */
export function sections(text = readFileSync(TEMPLATE_PATH, 'utf8')) {
  const result = {};
  let name = null;
  for (const line of text.split('\n')) {
    const match = /^___([A-Z_]+)___$/.exec(line.trim());
    if (match) {
      name = match[1];
      result[name] = [];
    } else if (name) {
      result[name].push(line);
    }
  }
  return Object.fromEntries(Object.entries(result).map(([k, v]) => [k, v.join('\n').trim()]));
}

/** The sandbox APIs the tag may require, as stand-ins that record what they were given. */
export function standIns({ eventData, cookies = {}, answer, now = 1736170000123 }) {
  const calls = { requests: [], logs: [], cookieReads: [] };
  const apis = {
    getAllEventData: () => structuredClone(eventData),
    getCookieValues: (name, noDecode) => {
      calls.cookieReads.push(name);
      const value = cookies[name];
      if (value === undefined) return [];
      return Array.isArray(value) ? value.slice() : [value];
    },
    getTimestampMillis: () => now,
    makeString: (value) => String(value),
    logToConsole: (...args) => {
      calls.logs.push(args.join(' '));
    },
    JSON: { stringify: (v) => JSON.stringify(v), parse: (t) => JSON.parse(t) },
    sendHttpRequest: (url, options, body) => {
      calls.requests.push({ url, options: structuredClone(options), body });
      return typeof answer === 'function' ? answer(url, options, body) : answer;
    },
  };
  return { apis, calls };
}

/** Run the tag once; resolves when it called gtmOnSuccess or gtmOnFailure (or times out). */
export async function runTag({ data = {}, eventData = {}, cookies = {}, answer, now } = {}) {
  const code = sections().SANDBOXED_JS_FOR_SERVER;
  const { apis, calls } = standIns({
    eventData,
    cookies,
    now,
    answer: answer ?? Promise.resolve({ statusCode: 202, headers: {}, body: '{"accepted":1}' }),
  });
  const required = [];
  const outcome = { success: 0, failure: 0 };
  let settle;
  const settled = new Promise((resolve) => {
    settle = resolve;
  });
  const tagData = {
    ...data,
    gtmOnSuccess: () => {
      outcome.success += 1;
      settle();
    },
    gtmOnFailure: () => {
      outcome.failure += 1;
      settle();
    },
  };
  const sandboxRequire = (name) => {
    required.push(name);
    if (!(name in apis)) throw new Error(`the stand-ins have no sandbox API ${name}`);
    return apis[name];
  };
  const context = vm.createContext(Object.fromEntries(HIDDEN_GLOBALS.map((g) => [g, undefined])));
  const run = vm.runInContext(`(function (require, data) {\n${code}\n})`, context, {
    filename: 'capi-relay-tag.tpl',
  });
  run(sandboxRequire, tagData);
  let handle;
  const timer = new Promise((resolve) => {
    handle = setTimeout(resolve, 2000, 'timeout');
  });
  const finished = await Promise.race([settled.then(() => 'settled'), timer]);
  clearTimeout(handle);
  await new Promise((resolve) => setImmediate(resolve)); // let a second (wrong) call show up
  return { calls, outcome, required, finished };
}

async function main(argv) {
  const option = (flag, fallback) => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : fallback;
  };
  const eventData = JSON.parse(readFileSync(option('--emit'), 'utf8'));
  const cookies = JSON.parse(option('--cookies', '{}'));
  const data = JSON.parse(
    option('--data', '{"relayUrl": "https://relay.example.com", "apiKey": "key", "sendCookies": true}'),
  );
  const result = await runTag({ data, eventData, cookies });
  const [request] = result.calls.requests;
  process.stdout.write(`${JSON.stringify({ ...request, outcome: result.outcome })}\n`);
}

if (process.argv.includes('--emit') && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  });
}
