variable "project_id" {
  description = "Google Cloud project to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the functions."
  type        = string
}

variable "pixel_id" {
  description = "Meta pixel (dataset) id."
  type        = string
}

variable "graph_api_version" {
  description = "Graph API version."
  type        = string
  default     = "v26.0"
}

variable "default_country" {
  description = "ISO alpha-2 country used to complete phone numbers without a country code (empty: none)."
  type        = string
  default     = ""
}

variable "alert_emails" {
  description = "E-mail addresses that receive the relay's alerts."
  type        = list(string)
  default     = []
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) for the Pub/Sub topics."
  type        = string
  default     = null
}

variable "dlq_operators" {
  description = "Principals allowed to run `capi replay`, e.g. [\"group:marketing-ops@example.com\"]."
  type        = list(string)
  default     = []
}

variable "pixels" {
  description = "Additional pixels besides pixel_id, keyed by pixel id, e.g. { \"222222222222\" = {} }; each gets the token secret capi-meta-token-<id>."
  type = map(object({
    test_event_code = optional(string, "")
  }))
  default = {}
}

variable "key_pixels" {
  description = "API key name -> { pixels, allow }: where the events of each named key go."
  type = map(object({
    pixels = list(string)
    allow  = optional(list(string), [])
  }))
  default = {}
}

variable "route_pixels" {
  description = "Route (e.g. /webhooks/shopify) -> { pixels, allow }: where webhooks go."
  type = map(object({
    pixels = list(string)
    allow  = optional(list(string), [])
  }))
  default = {}
}

variable "webhook_mappings_file" {
  description = "Generic webhook mapping file (YAML or JSON, path relative to this directory), e.g. webhook-mappings.yaml; empty: none."
  type        = string
  default     = ""
}

variable "webhook_signing_secrets" {
  description = "The secret_env names of the mappings' verify blocks, e.g. [\"CAPI_TYPEFORM_SECRET\"]; each gets the empty secret capi-webhook-<name without CAPI_, lower case, _ as ->, e.g. capi-webhook-typeform-secret."
  type        = set(string)
  default     = []
}

variable "consent_policy" {
  description = "ignore, drop or ldu: what happens to events whose consent denies ad_storage."
  type        = string
  default     = "ignore"
}

variable "ldu_states" {
  description = "US states whose LDU code is set under consent_policy = \"ldu\" (only CA)."
  type        = list(string)
  default     = []
}

variable "webhook_sources" {
  description = "Built-in webhook sources received: \"shopify\", \"stripe\"."
  type        = list(string)
  default     = ["shopify", "stripe"]
}

variable "shopify_topics" {
  description = "Shopify topics subscribed to the relay (orders/create, orders/paid)."
  type        = list(string)
  default     = ["orders/paid"]
}

variable "shopify_order_key" {
  description = "Which field names a Shopify order as the store's pages do: order_number, name or id (their dataLayer's transaction_id)."
  type        = string
  default     = "order_number"
}
