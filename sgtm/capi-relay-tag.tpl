___TERMS_OF_SERVICE___

By creating or modifying this file you agree to Google Tag Manager's Community
Template Gallery Developer Terms of Service available at
https://developers.google.com/tag-manager/gallery-tos (or such other URL as
Google may provide), as modified from time to time.


___INFO___

{
  "type": "TAG",
  "id": "cvt_temp_public_id",
  "version": 1,
  "securityGroups": [],
  "displayName": "capi-relay: Meta Conversions API",
  "categories": [
    "ADVERTISING",
    "CONVERSIONS"
  ],
  "brand": {
    "id": "capi_relay",
    "displayName": "capi-relay"
  },
  "description": "Sends the event (GA4 event data) and the Meta _fbp/_fbc cookies to your self-hosted capi-relay, which maps, validates, hashes and delivers it to the Meta Conversions API.",
  "containerContexts": [
    "SERVER"
  ]
}


___TEMPLATE_PARAMETERS___

[
  {
    "type": "TEXT",
    "name": "relayUrl",
    "displayName": "Relay URL",
    "simpleValueType": true,
    "help": "The URL of your relay's ingest function, e.g. https://capi-ingest-abc123-ew.a.run.app. The tag posts to its /sgtm route (added when the URL does not end with it).",
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      },
      {
        "type": "REGEX",
        "args": [
          "^https://[^\\s/]+(/\\S*)?$|^http://(localhost|127\\.0\\.0\\.1)(:\\d+)?(/\\S*)?$"
        ],
        "errorMessage": "Use an https:// URL (http:// only for localhost)."
      }
    ]
  },
  {
    "type": "TEXT",
    "name": "apiKey",
    "displayName": "API key",
    "simpleValueType": true,
    "help": "One of the relay's keys (CAPI_API_KEYS). Give this container its own named key (e.g. sgtm=...) so it can be rotated and routed on its own. Anyone who can edit this container can read it.",
    "valueValidators": [
      {
        "type": "NON_EMPTY"
      }
    ]
  },
  {
    "type": "TEXT",
    "name": "pixelId",
    "displayName": "Pixel (dataset) ID override",
    "simpleValueType": true,
    "help": "Optional. Leave empty to let the relay choose the pixel(s) for this API key. A pixel given here must be allowed for the key in the relay's CAPI_PIXELS.",
    "valueValidators": [
      {
        "type": "REGEX",
        "args": [
          "^[0-9]*$"
        ],
        "errorMessage": "A pixel ID is digits only."
      }
    ]
  },
  {
    "type": "TEXT",
    "name": "testEventCode",
    "displayName": "Test event code",
    "simpleValueType": true,
    "help": "Optional. From Events Manager > Test events. Remove it when you are done testing: test events count as real events."
  },
  {
    "type": "TEXT",
    "name": "eventName",
    "displayName": "Event name override",
    "simpleValueType": true,
    "help": "Optional. Leave empty to map the GA4 event name (purchase -> Purchase, generate_lead -> Lead, ...). Meta and custom names pass through."
  },
  {
    "type": "CHECKBOX",
    "name": "sendCookies",
    "checkboxText": "Forward the Meta cookies (_fbp, _fbc) of the request",
    "simpleValueType": true,
    "defaultValue": true
  },
  {
    "type": "CHECKBOX",
    "name": "debugLog",
    "checkboxText": "Log the relay's answer in preview mode (status and result codes, no personal data)",
    "simpleValueType": true,
    "defaultValue": false
  }
]


___SANDBOXED_JS_FOR_SERVER___

// capi-relay sGTM tag: POST the event data and the Meta cookies to the relay's /sgtm route.
const getAllEventData = require('getAllEventData');
const getCookieValues = require('getCookieValues');
const getTimestampMillis = require('getTimestampMillis');
const sendHttpRequest = require('sendHttpRequest');
const logToConsole = require('logToConsole');
const makeString = require('makeString');
const JSON = require('JSON');

const TIMEOUT_MS = 5000;
const ROUTE = '/sgtm';

const endpoint = (base) => {
  let url = makeString(base).trim();
  while (url.length > 0 && url.charAt(url.length - 1) === '/') {
    url = url.substring(0, url.length - 1);
  }
  if (url.length >= ROUTE.length && url.substring(url.length - ROUTE.length) === ROUTE) {
    return url;
  }
  return url + ROUTE;
};

const firstCookie = (name) => {
  const values = getCookieValues(name);
  if (values && values.length > 0 && values[0]) {
    return values[0];
  }
  return undefined;
};

const text = (value) => {
  if (value === undefined || value === null) {
    return '';
  }
  return makeString(value).trim();
};

const body = {
  event_data: getAllEventData(),
  // Milliseconds: the relay turns them into seconds.
  event_time: getTimestampMillis()
};

if (data.sendCookies !== false) {
  const cookies = {};
  const fbp = firstCookie('_fbp');
  const fbc = firstCookie('_fbc');
  if (fbp) {
    cookies._fbp = fbp;
  }
  if (fbc) {
    cookies._fbc = fbc;
  }
  body.cookies = cookies;
}
if (text(data.pixelId)) {
  body.pixel_id = text(data.pixelId);
}
if (text(data.testEventCode)) {
  body.test_event_code = text(data.testEventCode);
}
if (text(data.eventName)) {
  body.event_name = text(data.eventName);
}

const options = {
  method: 'POST',
  headers: {
    'Content-Type': 'application/json',
    'X-API-Key': text(data.apiKey)
  },
  timeout: TIMEOUT_MS
};

const onAnswer = (result) => {
  if (data.debugLog) {
    logToConsole('capi-relay answered ' + result.statusCode + ': ' + result.body);
  }
  if (result.statusCode >= 200 && result.statusCode < 300) {
    data.gtmOnSuccess();
  } else {
    data.gtmOnFailure();
  }
};

const onFailure = (problem) => {
  if (data.debugLog) {
    logToConsole('capi-relay request failed: ' + JSON.stringify(problem));
  }
  data.gtmOnFailure();
};

sendHttpRequest(endpoint(data.relayUrl), options, JSON.stringify(body)).then(onAnswer, onFailure);


___SERVER_PERMISSIONS___

[
  {
    "instance": {
      "key": {
        "publicId": "read_event_data",
        "versionId": "1"
      },
      "param": [
        {
          "key": "eventDataAccess",
          "value": {
            "type": 1,
            "string": "any"
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "get_cookies",
        "versionId": "1"
      },
      "param": [
        {
          "key": "cookieAccess",
          "value": {
            "type": 1,
            "string": "specific"
          }
        },
        {
          "key": "cookieNames",
          "value": {
            "type": 2,
            "listItem": [
              {
                "type": 1,
                "string": "_fbp"
              },
              {
                "type": 1,
                "string": "_fbc"
              }
            ]
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "send_http",
        "versionId": "1"
      },
      "param": [
        {
          "key": "allowedUrls",
          "value": {
            "type": 1,
            "string": "any"
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  },
  {
    "instance": {
      "key": {
        "publicId": "logging",
        "versionId": "1"
      },
      "param": [
        {
          "key": "environments",
          "value": {
            "type": 1,
            "string": "debug"
          }
        }
      ]
    },
    "clientAnnotations": {
      "isEditedByUser": true
    },
    "isRequired": true
  }
]


___TESTS___

scenarios: []


___NOTES___

capi-relay sGTM tag. Tested with node against stand-ins of the sandbox APIs: sgtm/test/.
