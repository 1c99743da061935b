#!/usr/bin/env bash
# The accounts and grants for deploying from Cloud Build (docs/DEPLOY.md, section 9), run once by
# a project owner (it creates a custom role and grants roles):
#
#   scripts/cloud-build-setup.sh PROJECT_ID [REGION] [--kms-key projects/P/locations/L/keyRings/R/cryptoKeys/K]
#
# It creates, or leaves as they are when they exist:
#   capi-tester     identity of the test build (cloudbuild-test.yaml): writes its logs and reads the
#                   source staged for it; it can deploy nothing
#   capi-deployer   identity of the deploy build (cloudbuild.yaml): the roles of
#                   terraform/deployer/permissions.json (DEPLOYER_ROLES below, kept equal to it by
#                   tests/terraform/test_tf_deployer.py) and the custom role CUSTOM_ROLE
#   gs://PROJECT_ID-capi-build-source
#                   where `gcloud builds submit --gcs-source-staging-dir` stages a build started by
#                   hand; the tester may read it, and no other bucket (the default staging bucket
#                   gs://PROJECT_ID_cloudbuild is Cloud Build's own, which the tester cannot read)
# With --kms-key (the module's kms_key_name), the deployer also administers that key's IAM policy.
set -euo pipefail

usage() { sed -n '2,5p' "$0" >&2; exit 2; }
[ $# -ge 1 ] || usage
PROJECT_ID=$1; shift
REGION=europe-west1
KMS_KEY=""
while [ $# -gt 0 ]; do
  case $1 in
    --kms-key) KMS_KEY=${2:?--kms-key needs the key\'s name}; shift 2 ;;
    -*) usage ;;
    *) REGION=$1; shift ;;
  esac
done

DEPLOYER_ROLES=(
  roles/serviceusage.serviceUsageAdmin
  roles/resourcemanager.projectIamAdmin
  roles/iam.serviceAccountAdmin
  roles/iam.serviceAccountUser
  roles/pubsub.admin
  roles/secretmanager.admin
  roles/storage.admin
  roles/artifactregistry.admin
  roles/cloudfunctions.admin
  roles/run.admin
  roles/cloudscheduler.admin
  roles/logging.configWriter
  roles/monitoring.editor
  roles/logging.logWriter
  roles/cloudbuild.builds.viewer
)
CUSTOM_ROLE=capiRelayDeployer
CUSTOM_PERMISSIONS=serviceusage.services.generateServiceIdentity

TESTER=capi-tester@$PROJECT_ID.iam.gserviceaccount.com
DEPLOYER=capi-deployer@$PROJECT_ID.iam.gserviceaccount.com
STAGING=gs://$PROJECT_ID-capi-build-source

account() {  # account NAME DISPLAY-NAME
  gcloud iam service-accounts describe "$1@$PROJECT_ID.iam.gserviceaccount.com" --project="$PROJECT_ID" >/dev/null 2>&1 ||
    gcloud iam service-accounts create "$1" --project="$PROJECT_ID" --display-name="$2"
}

grant() {  # grant MEMBER ROLE: on the project
  gcloud projects add-iam-policy-binding "$PROJECT_ID" --member="$1" --role="$2" --condition=None >/dev/null
  echo "  $2"
}

echo "1/5 the APIs this needs"
gcloud services enable cloudbuild.googleapis.com iam.googleapis.com storage.googleapis.com --project="$PROJECT_ID"

echo "2/5 service accounts capi-tester and capi-deployer"
account capi-tester "capi-relay tests (no deploy rights)"
account capi-deployer "capi-relay deployer"

echo "3/5 the tester: its logs, and the source staged in $STAGING"
grant "serviceAccount:$TESTER" roles/logging.logWriter
gcloud storage buckets describe "$STAGING" --project="$PROJECT_ID" >/dev/null 2>&1 ||
  gcloud storage buckets create "$STAGING" --project="$PROJECT_ID" --location="$REGION" \
    --uniform-bucket-level-access --public-access-prevention
gcloud storage buckets update "$STAGING" --lifecycle-file=<(printf '%s' '{"rule":[{"action":{"type":"Delete"},"condition":{"age":7}}]}') >/dev/null
gcloud storage buckets add-iam-policy-binding "$STAGING" --member="serviceAccount:$TESTER" \
  --role=roles/storage.objectViewer >/dev/null

echo "4/5 the deployer's custom role $CUSTOM_ROLE ($CUSTOM_PERMISSIONS)"
if gcloud iam roles describe "$CUSTOM_ROLE" --project="$PROJECT_ID" >/dev/null 2>&1; then
  gcloud iam roles update "$CUSTOM_ROLE" --project="$PROJECT_ID" --permissions="$CUSTOM_PERMISSIONS" --quiet >/dev/null
else
  gcloud iam roles create "$CUSTOM_ROLE" --project="$PROJECT_ID" --title="capi-relay deployer extras" \
    --description="What no predefined role short of Owner grants: the Pub/Sub service agent's creation." \
    --permissions="$CUSTOM_PERMISSIONS" --stage=GA >/dev/null
fi

echo "5/5 the deployer's roles"
for role in "${DEPLOYER_ROLES[@]}" "projects/$PROJECT_ID/roles/$CUSTOM_ROLE"; do
  grant "serviceAccount:$DEPLOYER" "$role"
done
if [ -n "$KMS_KEY" ]; then
  gcloud kms keys add-iam-policy-binding "$KMS_KEY" --member="serviceAccount:$DEPLOYER" \
    --role=roles/cloudkms.admin >/dev/null
  echo "  roles/cloudkms.admin on $KMS_KEY"
fi

cat <<DONE

Done. Test and deploy builds run as:
  _TEST_SERVICE_ACCOUNT=projects/$PROJECT_ID/serviceAccounts/$TESTER
  _DEPLOY_SERVICE_ACCOUNT=projects/$PROJECT_ID/serviceAccounts/$DEPLOYER
A test build started by hand stages its source in $STAGING:
  gcloud builds submit --config=cloudbuild-test.yaml --gcs-source-staging-dir=$STAGING/source \\
    --substitutions="_TEST_SERVICE_ACCOUNT=projects/$PROJECT_ID/serviceAccounts/$TESTER,_COMMIT=\$(git rev-parse HEAD)"
Grants take up to a few minutes to apply everywhere.
DONE
