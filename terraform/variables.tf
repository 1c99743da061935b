# Inputs of the capi-relay module. Only project_id, region and pixel_id are required.

variable "project_id" {
  description = "ID of the Google Cloud project to deploy into."
  type        = string
}

variable "region" {
  description = "Region for the functions, the source bucket and the image repository, e.g. europe-west1."
  type        = string
}

variable "pixel_id" {
  description = "Default Meta pixel (dataset) id that events are sent to (CAPI_PIXEL_ID)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.pixel_id))
    error_message = "pixel_id must be the numeric id of the pixel / dataset."
  }
}

variable "graph_api_version" {
  description = "Graph API version used for the Conversions API (CAPI_GRAPH_VERSION). Keep it current: versions stay usable for about two years."
  type        = string
  default     = "v26.0"

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+$", var.graph_api_version))
    error_message = "graph_api_version must look like v26.0."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (topics <prefix>-events and <prefix>-events-dlq, functions <prefix>-ingest and <prefix>-forward, ...). Change it to run several relays in one project."
  type        = string
  default     = "capi"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,10}[a-z0-9])?$", var.name_prefix))
    error_message = "name_prefix must be 1 to 12 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen (service account ids are limited to 30 characters)."
  }
}

variable "test_event_code" {
  description = "Optional Meta test event code (CAPI_TEST_EVENT_CODE): when set, every event goes to the Test Events view of Events Manager. Leave empty in production."
  type        = string
  default     = ""
}

variable "default_country" {
  description = "Optional ISO 3166-1 alpha-2 country (CAPI_DEFAULT_COUNTRY) used to complete phone numbers and states that lack one."
  type        = string
  default     = ""

  validation {
    condition     = var.default_country == "" || can(regex("^[A-Za-z]{2}$", var.default_country))
    error_message = "default_country must be empty or a two-letter ISO 3166-1 alpha-2 code."
  }
}

# ---------------------------------------------------------------------------------------------
# Several pixels (CAPI_PIXELS), generic webhooks (CAPI_WEBHOOK_MAPPINGS), consent
# ---------------------------------------------------------------------------------------------

variable "pixels" {
  description = "Additional Meta pixels (datasets), keyed by pixel id, besides pixel_id. Each gets its own empty token secret <prefix>-meta-token-<pixel id>, readable by the forward service account only; pixel_id keeps <prefix>-meta-token. test_event_code makes that pixel's events test events. Non-empty (or key_pixels / route_pixels set): both functions get CAPI_PIXELS."
  type = map(object({
    test_event_code = optional(string, "")
  }))
  default = {}

  validation {
    condition     = alltrue([for id in keys(var.pixels) : can(regex("^[0-9]+$", id))])
    error_message = "pixels must be keyed by numeric pixel (dataset) ids."
  }
}

variable "key_pixels" {
  description = "Routing by API key name (the names in the api-keys secret, name=key): the pixels each named key's events go to (all of them: fan-out), and the further pixels a request with that key may pick (allow). Every pixel must be pixel_id or a key of pixels."
  type = map(object({
    pixels = list(string)
    allow  = optional(list(string), [])
  }))
  default = {}

  validation {
    condition     = alltrue([for name in keys(var.key_pixels) : can(regex("^[A-Za-z][A-Za-z0-9_.-]{0,63}$", name))])
    error_message = "key_pixels: an API key name is a letter followed by up to 63 letters, digits, _, . or -."
  }

  validation {
    condition     = alltrue([for e in values(var.key_pixels) : alltrue([for id in concat(e.pixels, e.allow) : can(regex("^[0-9]+$", id))])])
    error_message = "key_pixels: pixels and allow list numeric pixel ids."
  }

  validation {
    condition     = alltrue([for e in values(var.key_pixels) : length(e.pixels) > 0])
    error_message = "key_pixels: each entry needs at least one pixel in pixels (where its events go when the request names none)."
  }
}

variable "route_pixels" {
  description = "Routing by route, for requests whose key has no key_pixels entry (webhooks carry no key): e.g. { \"/webhooks/shopify\" = { pixels = [\"222\"] } }. Same fields and rules as key_pixels."
  type = map(object({
    pixels = list(string)
    allow  = optional(list(string), [])
  }))
  default = {}

  validation {
    condition     = alltrue([for route in keys(var.route_pixels) : startswith(route, "/")])
    error_message = "route_pixels: a route is a path such as /webhooks/shopify."
  }

  validation {
    condition     = alltrue([for e in values(var.route_pixels) : alltrue([for id in concat(e.pixels, e.allow) : can(regex("^[0-9]+$", id))])])
    error_message = "route_pixels: pixels and allow list numeric pixel ids."
  }

  validation {
    condition     = alltrue([for e in values(var.route_pixels) : length(e.pixels) > 0])
    error_message = "route_pixels: each entry needs at least one pixel in pixels (where its events go when the request names none)."
  }
}

variable "webhook_mappings" {
  description = "Generic webhook mappings (CAPI_WEBHOOK_MAPPINGS of ingest) as inline JSON: {\"webhooks\": {\"<name>\": {...}}}, served at POST /webhooks/<name> (docs/SOURCES.md). From a YAML or JSON file: jsonencode(yamldecode(file(\"mappings.yaml\"))). Empty: none."
  type        = string
  default     = ""

  validation {
    condition     = var.webhook_mappings == "" || can(jsondecode(var.webhook_mappings))
    error_message = "webhook_mappings must be empty or valid JSON (for a YAML file: jsonencode(yamldecode(file(\"mappings.yaml\"))))."
  }

  validation {
    condition     = var.webhook_mappings == "" || (startswith(trimspace(var.webhook_mappings), "{") && can(keys(jsondecode(var.webhook_mappings).webhooks)))
    error_message = "webhook_mappings must be a JSON object with a top-level \"webhooks\" object (the code reads a value starting with { as inline JSON, anything else as a file path, and the function has no such file)."
  }

  validation {
    condition     = length(var.webhook_mappings) <= 24576
    error_message = "webhook_mappings is limited to 24576 characters: all environment variables of a function share 32 KiB."
  }
}

variable "webhook_signing_secrets" {
  description = "Names (not values) of the environment variables that the verify blocks of webhook_mappings give as secret_env, e.g. [\"CAPI_TYPEFORM_SECRET\"]. Each gets an empty secret <prefix>-webhook-<name without CAPI_, lower case, _ as -> that only the ingest service account may read, and ingest gets <name>_SECRET = its version path. Every secret_env of webhook_mappings must be listed (the plan stops otherwise)."
  type        = set(string)
  default     = []

  validation {
    condition     = alltrue([for name in var.webhook_signing_secrets : can(regex("^CAPI_[A-Z0-9_]+$", name))])
    error_message = "webhook_signing_secrets lists environment variable names such as CAPI_TYPEFORM_SECRET: CAPI_ followed by upper-case letters, digits or _ (a name, never the secret itself)."
  }

  # Neither <name> nor <name>_SECRET may be a setting of the relay: ingest would read the secret's
  # version path as that setting (or a setting as the signing secret). Every CAPI_* name the code
  # reads is listed (tests/terraform/test_tf_rules.py checks this list against capi/).
  validation {
    condition = length(setintersection(
      setunion(var.webhook_signing_secrets, [for name in var.webhook_signing_secrets : "${name}_SECRET"]),
      [
        "CAPI_ACCESS_TOKEN", "CAPI_ACCESS_TOKEN_SECRET", "CAPI_ACK_DEADLINE", "CAPI_ALLOW_UNAUTHENTICATED", "CAPI_API_KEYS",
        "CAPI_API_KEYS_SECRET", "CAPI_BATCH_MAX_EVENTS", "CAPI_BATCH_MIN_INFLIGHT", "CAPI_BATCH_WINDOW_MS", "CAPI_BROWSER_KEYS", "CAPI_BROWSER_RATE_PER_IP", "CAPI_CONSENT_POLICY", "CAPI_CORS_ORIGINS", "CAPI_DATE_ORDER",
        "CAPI_DEFAULT_COUNTRY", "CAPI_DELIVERED_LOG_SAMPLE", "CAPI_DLQ_SUBSCRIPTION", "CAPI_DRAIN_ACK_DEADLINE", "CAPI_DRAIN_BUDGET", "CAPI_DRAIN_LINGER", "CAPI_DRAIN_SUBSCRIPTION", "CAPI_DRY_RUN", "CAPI_DLQ_TOPIC", "CAPI_GRAPH_TIMEOUT",
        "CAPI_GRAPH_URL", "CAPI_GRAPH_VERSION", "CAPI_HASH_AT_INGEST", "CAPI_LDU_STATES", "CAPI_MAX_BODY_BYTES",
        "CAPI_MAX_DELIVERY_ATTEMPTS", "CAPI_NORMALIZE_CACHE_SIZE", "CAPI_PIXELS", "CAPI_PIXEL_ID",
        "CAPI_PUBLISH_MAX_INFLIGHT", "CAPI_PUBLISH_TIMEOUT", "CAPI_PUBSUB_ENDPOINT", "CAPI_SECRET_MANAGER_ENDPOINT", "CAPI_SECRET_TIMEOUT", "CAPI_SECRET_TTL",
        "CAPI_SHOPIFY_ORDER_KEY", "CAPI_SHOPIFY_TOPICS", "CAPI_SHOPIFY_WEBHOOK_SECRET", "CAPI_SHOPIFY_WEBHOOK_SECRET_SECRET", "CAPI_STRIPE_WEBHOOK_SECRET",
        "CAPI_STRIPE_WEBHOOK_SECRET_SECRET", "CAPI_STRIPE_WEBHOOK_TOLERANCE", "CAPI_TEST_EVENT_CODE", "CAPI_TRUST_FORWARDED_FOR",
        "CAPI_TOPIC", "CAPI_WEBHOOK_MAPPINGS",
      ],
    )) == 0
    error_message = "webhook_signing_secrets: a name that is, or whose <name>_SECRET is, a setting of the relay itself (CAPI_API_KEYS, CAPI_ACCESS_TOKEN, CAPI_SHOPIFY_WEBHOOK_SECRET, CAPI_STRIPE_WEBHOOK_SECRET, CAPI_PIXELS, ...): choose a name of its own, such as CAPI_TYPEFORM_SECRET."
  }

  # CAPI_X and CAPI_X_SECRET together: ingest gets CAPI_X_SECRET = the version path of CAPI_X's
  # secret, which the code would read as the signing secret of a mapping naming CAPI_X_SECRET.
  validation {
    condition     = length(setintersection(var.webhook_signing_secrets, [for name in var.webhook_signing_secrets : "${name}_SECRET"])) == 0
    error_message = "webhook_signing_secrets must not list both a name and <name>_SECRET: the environment variable <name>_SECRET carries the version path of <name>'s secret."
  }
}

variable "consent_policy" {
  description = "What ingest does with an event whose consent signals deny ad_storage (CAPI_CONSENT_POLICY): ignore (send it as before), drop (do not send it), ldu (send it with Limited Data Use)."
  type        = string
  default     = "ignore"

  validation {
    condition     = contains(["ignore", "drop", "ldu"], var.consent_policy)
    error_message = "consent_policy must be ignore, drop or ldu."
  }
}

variable "ldu_states" {
  description = "US states whose Limited Data Use code ingest sets under consent_policy = \"ldu\" (CAPI_LDU_STATES). Meta documents a code for California only: [\"CA\"]."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.ldu_states : contains(["CA"], upper(s))])
    error_message = "ldu_states may only list CA: Meta documents no LDU state code for other states (events elsewhere get 0/0, which lets Meta geolocate)."
  }
}

variable "runtime" {
  description = "Cloud Run functions runtime for both functions."
  type        = string
  default     = "python312"

  validation {
    condition     = can(regex("^python3[0-9]+$", var.runtime))
    error_message = "runtime must be a Python runtime such as python312."
  }
}

variable "webhook_sources" {
  description = "The built-in webhook sources this relay receives: \"shopify\", \"stripe\". For each, the module creates its signing secret (empty: fill it) and sets it on ingest; a source not listed answers 404 without a Secret Manager read."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.webhook_sources : contains(["shopify", "stripe"], s)])
    error_message = "webhook_sources may list \"shopify\" and \"stripe\"."
  }
}

variable "shopify_topics" {
  description = "The Shopify webhook topics subscribed to this relay (orders/create, orders/paid). X-Shopify-Topic is not signed: a delivery under any other topic is refused, so a captured body cannot be replayed under another one."
  type        = list(string)
  default     = ["orders/paid"]

  validation {
    condition     = length(var.shopify_topics) > 0 && alltrue([for t in var.shopify_topics : contains(["orders/create", "orders/paid"], t)])
    error_message = "shopify_topics lists orders/create and/or orders/paid."
  }
}

variable "shopify_order_key" {
  description = "Which field names a Shopify order the way the store's pages do (their dataLayer's transaction_id, which sGTM sends): order_number (1001), name (#1001) or id. A Purchase's event_id is derived from it on every door, so one order arriving by sGTM and by the webhook is one Purchase for Meta."
  type        = string
  default     = "order_number"

  validation {
    condition     = contains(["order_number", "name", "id"], var.shopify_order_key)
    error_message = "shopify_order_key is order_number, name or id."
  }
}

variable "ingest" {
  description = "Scaling and size of the ingest function (HTTP endpoint called by sGTM, webhooks and backends). concurrency is how many requests one instance holds at once, with as many gunicorn threads; publish_max_inflight how many Publish RPCs it runs at once before further requests wait and share the next one (group commit, whole requests only; 0: each request its own RPC at once; docs/PERFORMANCE.md)."
  type = object({
    min_instances        = optional(number, 0)
    max_instances        = optional(number, 20)
    concurrency          = optional(number, 16)
    cpu                  = optional(string, "1")
    memory               = optional(string, "512Mi")
    timeout_seconds      = optional(number, 30)
    publish_max_inflight = optional(number, 2)
  })
  default = {}

  validation {
    condition     = var.ingest.min_instances >= 0 && var.ingest.max_instances >= 1 && var.ingest.min_instances <= var.ingest.max_instances
    error_message = "ingest: need 0 <= min_instances <= max_instances and max_instances >= 1."
  }

  validation {
    condition     = var.ingest.concurrency >= 1 && var.ingest.concurrency <= 1000 && (var.ingest.concurrency == 1 || tonumber(var.ingest.cpu) >= 1)
    error_message = "ingest: concurrency must be 1..1000, and a concurrency above 1 needs cpu >= 1."
  }

  validation {
    condition     = var.ingest.timeout_seconds >= 1 && var.ingest.timeout_seconds <= 3600
    error_message = "ingest: timeout_seconds must be 1..3600."
  }

  validation {
    condition     = var.ingest.publish_max_inflight >= 0 && var.ingest.publish_max_inflight <= 1000 && floor(var.ingest.publish_max_inflight) == var.ingest.publish_max_inflight
    error_message = "ingest: publish_max_inflight must be a whole number from 0 to 1000."
  }
}

variable "forward" {
  description = "Scaling and size of the forward function (Pub/Sub push handler that calls the Graph API), and the deadlines of its outside calls. timeout_seconds is also the push subscription's ack deadline (10..600); it must cover the worst case of one delivery: 2 x secret_timeout_seconds + 2 x (3.05 + graph_timeout_seconds) + publish_timeout_seconds + 5 (52 s with the defaults). The forwarder sends the events of concurrent pushes in one Graph request: concurrency is how many pushes one instance holds at once (and its gunicorn threads), batch_window_ms how long the first waits for others, only while other pushes are in flight (0: one request per event; docs/PERFORMANCE.md)."
  type = object({
    min_instances           = optional(number, 0)
    max_instances           = optional(number, 10)
    concurrency             = optional(number, 250)
    cpu                     = optional(string, "1")
    memory                  = optional(string, "512Mi")
    timeout_seconds         = optional(number, 60)
    graph_timeout_seconds   = optional(number, 10)
    secret_timeout_seconds  = optional(number, 5)
    publish_timeout_seconds = optional(number, 10)
    batch_window_ms         = optional(number, 100)
  })
  default = {}

  validation {
    # The forwarder's worst case (capi/config.py, Settings.delivery_worst_case_s): token read,
    # Graph call, token re-read and second call after a 190, dead-letter publish, margin. An ack
    # deadline below it lets Pub/Sub redeliver an event that is still being sent: a duplicate.
    condition     = var.forward.timeout_seconds >= ceil(2 * var.forward.secret_timeout_seconds + 2 * (3.05 + var.forward.graph_timeout_seconds) + var.forward.publish_timeout_seconds + 5)
    error_message = "forward: timeout_seconds (the ack deadline) must be at least 2 x secret_timeout_seconds + 2 x (3.05 + graph_timeout_seconds) + publish_timeout_seconds + 5."
  }

  validation {
    # capi.forward.batcher: the window counts in the delivery budget's 5 s margin (at most 1 s).
    condition     = var.forward.batch_window_ms >= 0 && var.forward.batch_window_ms <= 1000 && floor(var.forward.batch_window_ms) == var.forward.batch_window_ms
    error_message = "forward: batch_window_ms must be a whole number from 0 (no batching) to 1000."
  }

  validation {
    condition     = var.forward.graph_timeout_seconds > 0 && var.forward.secret_timeout_seconds > 0 && var.forward.publish_timeout_seconds > 0
    error_message = "forward: the graph, secret and publish timeouts must be positive."
  }

  validation {
    condition     = var.forward.min_instances >= 0 && var.forward.max_instances >= 1 && var.forward.min_instances <= var.forward.max_instances
    error_message = "forward: need 0 <= min_instances <= max_instances and max_instances >= 1."
  }

  validation {
    condition     = var.forward.concurrency >= 1 && var.forward.concurrency <= 1000 && (var.forward.concurrency == 1 || tonumber(var.forward.cpu) >= 1)
    error_message = "forward: concurrency must be 1..1000, and a concurrency above 1 needs cpu >= 1."
  }

  validation {
    condition     = var.forward.timeout_seconds >= 10 && var.forward.timeout_seconds <= 600
    error_message = "forward: timeout_seconds must be 10..600 (it is the push subscription's ack deadline)."
  }
}

variable "delivery" {
  description = "How forward gets the events. \"drain\" (the default): Cloud Scheduler calls forward's /drain on var.drain.schedule (every minute), and forward empties a pull subscription, up to 1,000 events per Graph request; events reach Meta within about a minute, at a fraction of push's cost (docs/PERFORMANCE.md, bench/cost_model.py). \"push\": Pub/Sub pushes each event to forward as it arrives, for callers who need sub-second delivery; one push per event."
  type        = string
  default     = "drain"

  validation {
    condition     = contains(["drain", "push"], var.delivery)
    error_message = "delivery must be \"drain\" or \"push\"."
  }
}

variable "drain" {
  description = "The drain (var.delivery = \"drain\"): the Cloud Scheduler schedule that calls forward's /drain (cron, UTC), how long one drain keeps pulling (budget_seconds), how long it keeps polling an empty subscription for the low-latency drain (linger_seconds: 0 ends a drain when the subscription is empty; up to budget_seconds keeps one instance busy that long every run, about $44 a month at 45 s, for about a second from queue to Meta, docs/PERFORMANCE.md) and forward's request timeout in this mode (timeout_seconds: the budget plus one batch's worst case, at most 1800, Cloud Scheduler's longest attempt deadline)."
  type = object({
    schedule        = optional(string, "* * * * *")
    budget_seconds  = optional(number, 45)
    linger_seconds  = optional(number, 0)
    timeout_seconds = optional(number, 180)
  })
  default = {}

  validation {
    condition     = var.drain.budget_seconds >= 5 && var.drain.timeout_seconds <= 1800
    error_message = "drain: budget_seconds must be at least 5 and timeout_seconds at most 1800 (Cloud Scheduler's longest attempt deadline for HTTP targets)."
  }

  validation {
    condition     = var.drain.linger_seconds >= 0 && var.drain.linger_seconds <= var.drain.budget_seconds
    error_message = "drain: linger_seconds must be from 0 to budget_seconds."
  }

  validation {
    # A drain stops pulling at its budget; the batch it is sending then may take one delivery's
    # worst case (capi/config.py, Settings.delivery_worst_case_s, with the default timeouts).
    condition     = var.drain.timeout_seconds >= var.drain.budget_seconds + 52
    error_message = "drain: timeout_seconds must be at least budget_seconds + 52 (one batch's worst case with the default timeouts)."
  }
}

variable "exclude_successful_request_logs" {
  description = "Exclude Cloud Run's request logs of the relay's successful requests (HTTP status < 400) from storage: one entry per ingest request (and per push), each billed with its metadata. Failed requests and every line the relay writes are kept."
  type        = bool
  default     = true
}

variable "delivered_log_sample" {
  description = "Share of delivered events that get a log line of their own (with match keys and grade), from 0 to 1. Every Graph request gets one line with its counts and event ids whatever this is; dead letters and transient failures always get a line per event."
  type        = number
  default     = 0.01
  validation {
    condition     = var.delivered_log_sample >= 0 && var.delivered_log_sample <= 1
    error_message = "delivered_log_sample is a fraction from 0 to 1."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message to forward before Pub/Sub moves it to the dead-letter topic."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100 (Pub/Sub limits)."
  }
}

variable "retry_minimum_backoff" {
  description = "Shortest delay before Pub/Sub redelivers a message that forward nacked (exponential backoff)."
  type        = string
  default     = "10s"

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?s$", var.retry_minimum_backoff))
    error_message = "retry_minimum_backoff must be a duration in seconds such as 10s (0s to 600s)."
  }
}

variable "retry_maximum_backoff" {
  description = "Longest delay between redeliveries (exponential backoff, at most 600s)."
  type        = string
  default     = "600s"

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?s$", var.retry_maximum_backoff))
    error_message = "retry_maximum_backoff must be a duration in seconds such as 600s (at most 600s)."
  }
}

variable "message_retention_duration" {
  description = "How long the events subscription keeps undelivered events (Meta outage, bad token) before they are lost: 10m to 31 days."
  type        = string
  default     = "604800s"
}

variable "dlq_message_retention_duration" {
  description = "How long the dead-letter pull subscription keeps events for inspection and `capi replay`: 10m to 31 days. Dead letters hold the customer information the event carried (raw unless hash_at_ingest): 7 days by default, long enough to fix and replay, short for a privacy record (docs/PRIVACY.md)."
  type        = string
  default     = "604800s"
}

variable "data_regions" {
  description = "Regions where Pub/Sub may store the events and the dead letters (the topics' message storage policy) and Secret Manager the secrets (unless secret_locations says otherwise). null (the default): [var.region]. docs/PRIVACY.md lists every place customer data exists."
  type        = list(string)
  default     = null
  validation {
    condition     = var.data_regions == null ? true : length(var.data_regions) > 0
    error_message = "data_regions: at least one region (null for [var.region])."
  }
}

variable "enforce_in_transit" {
  description = "Pub/Sub refuses publish and pull requests received outside data_regions (the message storage policy's enforce_in_transit); the functions then call the locational endpoint of var.region (CAPI_PUBSUB_ENDPOINT). var.region must be one of data_regions."
  type        = bool
  default     = true
}

variable "regional_logs" {
  description = "Store the functions' logs in a log bucket of the module's own in var.region (kept out of the project's _Default bucket), for log_retention_days (logs.tf)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "How long the relay's regional log bucket keeps the functions' logs, in days (1 to 3650)."
  type        = number
  default     = 30
  validation {
    condition     = var.log_retention_days >= 1 && var.log_retention_days <= 3650
    error_message = "log_retention_days is from 1 to 3650."
  }
}

variable "browser_keys" {
  description = "Browser keys for pixel.js and POST /browser (CAPI_BROWSER_KEYS): public keys of 16+ characters, each with the page origins allowed to use it, the event names it may send (null: any), its rate (events a minute) and the domain its first-party _fbp/_fbc cookies are set for (\"\": none; the relay must then be served on a subdomain of it). Empty: the browser door is closed (404). docs/SOURCES.md, \"The browser door\"."
  type = map(object({
    origins         = list(string)
    events          = optional(list(string))
    rate_per_minute = optional(number, 600)
    cookie_domain   = optional(string, "")
  }))
  default = {}
  validation {
    condition     = alltrue([for key, spec in var.browser_keys : length(key) >= 16 && length(spec.origins) > 0 && alltrue([for o in spec.origins : startswith(o, "https://") || startswith(o, "http://")])])
    error_message = "browser_keys: keys of 16+ characters, each with at least one origin (https://shop.example.com)."
  }
}

variable "browser_rate_per_ip" {
  description = "Events a minute the browser door takes from one client IP address, whatever key or origin it claims (CAPI_BROWSER_RATE_PER_IP)."
  type        = number
  default     = 60
}

variable "hash_at_ingest" {
  description = "Ingest normalizes and hashes customer information before it queues an event (CAPI_HASH_AT_INGEST): the queue, the dead letters and their retention hold hashes only. What it costs: a normalization fix cannot reach events already queued (docs/PRIVACY.md)."
  type        = bool
  default     = false
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) that encrypts both topics (CMEK). The module grants the Pub/Sub service agent encrypt/decrypt on this key only. null = Google-managed encryption."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be null or a key path projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "ingest_invoker_members" {
  description = "Who may invoke the ingest function at the IAM layer. Default allUsers: sGTM and webhook senders cannot present Google identities, so ingest is public and every request is authenticated by the API keys checked in the code. Replace with service accounts if all callers are on Google Cloud."
  type        = list(string)
  default     = ["allUsers"]
}

variable "dlq_operators" {
  description = "Principals (user:..., group:..., serviceAccount:...) allowed to run `capi replay`: subscriber on the dead-letter pull subscription and publisher on the main topic, nothing else."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.dlq_operators : can(regex("^(user|group|serviceAccount|domain|principal|principalSet):", m))])
    error_message = "dlq_operators must be IAM members such as group:ops@example.com (allUsers and allAuthenticatedUsers are not accepted)."
  }
}

variable "notification_channels" {
  description = "Cloud Monitoring notification channel ids (projects/P/notificationChannels/N) that receive the alerts."
  type        = list(string)
  default     = []
}

variable "alert_oldest_unacked_age_seconds" {
  description = "Alert when the oldest event waiting for delivery to Meta is older than this many seconds."
  type        = number
  default     = 900
}

variable "secret_deletion_protection" {
  description = "Protect the Secret Manager secrets from `terraform destroy` (requires a provider that supports deletion_protection on secrets, 6.50+)."
  type        = bool
  default     = false
}

variable "enable_apis" {
  description = "Enable the required Google APIs (never disabled on destroy). Set false when APIs are managed elsewhere."
  type        = bool
  default     = true
}

variable "source_dir" {
  description = "Directory holding main.py, requirements.txt and capi/. null = the repository root (the parent of this module)."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels added to every resource that supports them."
  type        = map(string)
  default     = {}
}

variable "iam_propagation_delay" {
  description = "How long the first apply waits for fresh IAM grants to apply everywhere before they are used (the function builds, the topics): Google documents up to a few minutes. Only on creation; later applies do not wait."
  type        = string
  default     = "60s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.iam_propagation_delay)) && try(tonumber(trimsuffix(var.iam_propagation_delay, "s")) <= 600, false)
    error_message = "iam_propagation_delay must be whole seconds such as 60s, at most 600s."
  }
}

variable "secret_locations" {
  description = "Regions where Secret Manager stores the secrets (user-managed replication). null (the default): data_regions ([var.region] unless set). [] keeps automatic replication, which Google may store anywhere and which the constraints/gcp.resourceLocations organization policy refuses. Replication cannot change in place: a secret created with other replication is replaced, and its values are lost (docs/DEPLOY.md, upgrading)."
  type        = list(string)
  default     = null
}
