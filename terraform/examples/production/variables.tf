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
