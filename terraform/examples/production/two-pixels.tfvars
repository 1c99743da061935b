# Two pixels in one relay: shop A (pixel_id) and shop B. Use it as it is with
#   terraform apply -var-file=two-pixels.tfvars -var "project_id=$PROJECT_ID" -var "region=$REGION"
# or copy it to terraform.tfvars (loaded by every plan, also cloudbuild.yaml's) with your ids.
# Nothing here is secret: pixel ids, API key *names* and routes. The tokens go into Secret Manager
# (docs/DEPLOY.md, "Several pixels").

# Shop A: its token in capi-meta-token. Events whose key or route has no entry below go here.
pixel_id = "111111111111"

# Shop B: its token in capi-meta-token-222222222222, which Terraform creates empty.
pixels = {
  "222222222222" = {}
}

# By API key name: the api-keys secret then holds "shop-a=<key>,shop-b=<key>,agency=<key>".
key_pixels = {
  shop-a = { pixels = ["111111111111"] }
  shop-b = { pixels = ["222222222222"] }
  agency = { pixels = ["111111111111", "222222222222"] } # every event to both (fan-out)
}

# By route, for webhooks (they carry no API key): Shopify orders are shop B's, Stripe payments shop
# A's. A signed webhook's pixel comes from here, never from its URL (the query is not signed).
route_pixels = {
  "/webhooks/shopify"   = { pixels = ["222222222222"] }
  "/webhooks/stripe"    = { pixels = ["111111111111"] }
  "/webhooks/crm-deals" = { pixels = ["222222222222"] }
}

# POST /webhooks/crm-deals and /webhooks/typeform-leads, mapped by webhook-mappings.yaml (sent as
# inline JSON). typeform-leads verifies Typeform's signature with the secret its secret_env names:
# Terraform creates it empty as capi-webhook-typeform-secret (fill it with gcloud, never here).
webhook_mappings_file   = "webhook-mappings.yaml"
webhook_signing_secrets = ["CAPI_TYPEFORM_SECRET"]

# Events whose consent denies ad_storage are sent with Limited Data Use; California gets its code.
consent_policy = "ldu"
ldu_states     = ["CA"]
