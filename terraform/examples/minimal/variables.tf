variable "project_id" {
  description = "Google Cloud project to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the functions."
  type        = string
  default     = "us-central1"
}

variable "pixel_id" {
  description = "Meta pixel (dataset) id."
  type        = string
}

variable "test_event_code" {
  description = "Optional Meta test event code: while set, events show in Events Manager > Test events."
  type        = string
  default     = ""
}

variable "webhook_sources" {
  description = "Webhook senders whose signed requests ingest takes: any of shopify, stripe. Each gets its signing secret (terraform output next_steps says how to fill it) and its URL <ingest_url>/webhooks/<source>."
  type        = list(string)
  default     = []
}
