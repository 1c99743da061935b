#!/usr/bin/env bash
# From an empty Google Cloud project to a test Purchase in Meta's Events Manager, in one command
# (docs/DEPLOY.md, section 2). Run it from a checkout of this repository, after
# `gcloud auth login` and `gcloud auth application-default login`:
#
#   TEST_EVENT_CODE=TEST12345 scripts/deploy.sh PROJECT_ID PIXEL_ID [REGION]
#
# It enables the two APIs Terraform needs to enable the others, applies terraform/examples/minimal
# (local state; CAPI_EXAMPLE=production applies terraform/examples/production, its state in the
# bucket gs://PROJECT_ID-tfstate, which it creates), asks for the Meta access token (not echoed)
# and stores it in Secret Manager, creates the API keys sgtm and backend and stores them, then
# sends a test Purchase and prints the answer. TEST_EVENT_CODE (Events Manager > your dataset >
# Test events) makes every event a test event until you apply again without it. A secret that
# already has a version is left as it is, so running it again only applies.
#
# CAPI_AUTO_APPROVE=1 skips Terraform's confirmation.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '6p' "$0" | sed 's/^#  *//' >&2; exit 2; }
[ $# -ge 2 ] || usage
PROJECT_ID=$1
PIXEL_ID=$2
REGION=${3:-europe-west1}
EXAMPLE=${CAPI_EXAMPLE:-minimal}
TEST_EVENT_CODE=${TEST_EVENT_CODE:-}
case $EXAMPLE in minimal | production) ;; *) echo "CAPI_EXAMPLE is minimal or production" >&2; exit 2 ;; esac
case $PIXEL_ID in *[!0-9]* | "") echo "PIXEL_ID is the dataset's number (Events Manager > Data sources > Settings)" >&2; exit 2 ;; esac

for tool in gcloud terraform openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "deploy: $tool is needed (Cloud Shell has them all)" >&2; exit 1; }
done
gcloud auth print-access-token >/dev/null 2>&1 || { echo "deploy: run 'gcloud auth login' first" >&2; exit 1; }
gcloud auth application-default print-access-token >/dev/null 2>&1 ||
  { echo "deploy: run 'gcloud auth application-default login' first (Terraform's credentials)" >&2; exit 1; }

has_version() {  # has_version SECRET: whether the secret holds a value already
  [ -n "$(gcloud secrets versions list "$1" --project="$PROJECT_ID" --limit=1 --format='value(name)' 2>/dev/null)" ]
}

echo "== 1/5 the APIs Terraform needs to enable the others"
gcloud services enable cloudresourcemanager.googleapis.com serviceusage.googleapis.com --project="$PROJECT_ID"

cd "terraform/examples/$EXAMPLE"
vars=(-var "project_id=$PROJECT_ID" -var "region=$REGION" -var "pixel_id=$PIXEL_ID")
if [ "$EXAMPLE" = production ]; then
  STATE=gs://$PROJECT_ID-tfstate
  gcloud storage buckets describe "$STATE" --project="$PROJECT_ID" >/dev/null 2>&1 || {
    gcloud storage buckets create "$STATE" --project="$PROJECT_ID" --location="$REGION" \
      --uniform-bucket-level-access --public-access-prevention
    gcloud storage buckets update "$STATE" --versioning
  }
  echo "== 2/5 terraform apply of terraform/examples/production (state in $STATE; the first apply builds both functions: 5 to 10 minutes)"
  terraform init -input=false -backend-config="bucket=$PROJECT_ID-tfstate" -backend-config="prefix=capi-relay"
else
  echo "== 2/5 terraform apply of terraform/examples/minimal (the first apply builds both functions: 5 to 10 minutes)"
  terraform init -input=false
  vars+=(-var "test_event_code=$TEST_EVENT_CODE")
fi
terraform apply -input=false ${CAPI_AUTO_APPROVE:+-auto-approve} "${vars[@]}"
META_SECRET=$(terraform output -json secret_ids | python3 -c 'import json,sys; print(json.load(sys.stdin)["meta_token"])')
KEYS_SECRET=$(terraform output -json secret_ids | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_keys"])')
INGEST_URL=$(terraform output -raw ingest_url)

echo "== 3/5 the Meta access token (Events Manager > your dataset > Settings > Conversions API > Generate access token)"
if has_version "$META_SECRET"; then
  echo "$META_SECRET has a token already: kept (add a version to replace it)"
else
  read -rsp "Paste the token, then Enter: " META_TOKEN && echo
  [ -n "$META_TOKEN" ] || { echo "deploy: no token given; run this again to store it" >&2; exit 1; }
  printf '%s' "$META_TOKEN" | gcloud secrets versions add "$META_SECRET" --project="$PROJECT_ID" --data-file=- >/dev/null
  unset META_TOKEN
  echo "stored in $META_SECRET"
fi

echo "== 4/5 the API keys of the callers of ingest"
BACKEND_KEY=""
if has_version "$KEYS_SECRET"; then
  echo "$KEYS_SECRET has keys already: kept. Send the test event yourself with one of them (docs/DEPLOY.md, section 4)."
else
  SGTM_KEY=$(openssl rand -hex 32)
  BACKEND_KEY=$(openssl rand -hex 32)
  printf '%s' "sgtm=$SGTM_KEY,backend=$BACKEND_KEY" | gcloud secrets versions add "$KEYS_SECRET" --project="$PROJECT_ID" --data-file=- >/dev/null
  echo "stored in $KEYS_SECRET. Keep them where you keep passwords; they are shown this once:"
  echo "  SGTM_KEY=$SGTM_KEY        (server-side GTM's tag)"
  echo "  BACKEND_KEY=$BACKEND_KEY     (your backend)"
fi

echo "== 5/5 a test Purchase"
if [ -n "$BACKEND_KEY" ]; then
  curl -sS -X POST "$INGEST_URL/events" -H "X-API-Key: $BACKEND_KEY" -H 'Content-Type: application/json' \
    -d '{"data": [{"event_name": "Purchase", "event_time": '"$(date +%s)"', "event_id": "order-1001", "action_source": "website",
         "event_source_url": "https://shop.example.com/checkout/thanks",
         "user_data": {"em": "jane.doe@example.com", "ph": "+1 650 555 1212", "client_ip_address": "203.0.113.7", "client_user_agent": "Mozilla/5.0"},
         "custom_data": {"value": 42.5, "currency": "EUR", "order_id": "1001"}}]}'
  echo
fi
cat <<DONE

Ingest: $INGEST_URL
A 202 above means the event is queued; it reaches Meta within a minute:
${TEST_EVENT_CODE:+  Events Manager > your dataset > Test events (code $TEST_EVENT_CODE).
}  Not there? gcloud functions logs read capi-forward --region=$REGION --project=$PROJECT_ID --limit=50
Next: point server-side GTM and your backend at ingest (terraform output next_steps, in terraform/examples/$EXAMPLE).
DONE
