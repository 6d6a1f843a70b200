#!/usr/bin/env bash
# Deploy one environment:  scripts/deploy.sh dev|prod
#
# 1. stages build/<function>/ and build/ws_bridge/ (tickcast stage),
# 2. terraform init against the GCS state bucket,
# 3. makes sure the APIs, the image repository, the build service account
#    with its grants (and the IAM propagation wait) and the JWT secret exist
#    (a targeted apply: a no-op after the first deploy) and that the JWT
#    secret has a version,
# 4. builds and pushes the bridge image tagged with the commit (Cloud Build as
#    the build service account, infra/cloudbuild/ws-bridge.yaml, or local
#    docker with USE_DOCKER=1), unless that tag already exists,
# 5. terraform plan with envs/ENV.tfvars, then apply after confirmation.
#
# Environment:
#   TICKCAST_STATE_BUCKET  (required) GCS bucket holding Terraform state
#   TICKCAST_IMAGE_TAG     bridge image tag (default: the commit, 12 hex digits)
#   ALLOW_DIRTY=1          deploy a work tree with uncommitted changes
#   AUTO_APPROVE=1         apply without asking
#   USE_DOCKER=1           build the image with local docker instead of Cloud Build
# See docs/DEPLOY.md.
set -euo pipefail

usage() { echo "usage: scripts/deploy.sh dev|prod" >&2; exit 2; }
[ $# -eq 1 ] || usage
ENV="$1"
case "$ENV" in dev | prod) ;; *) usage ;; esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TF="$ROOT/infra/terraform"
VARS="$TF/envs/$ENV.tfvars"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
STATE_BUCKET="${TICKCAST_STATE_BUCKET:?set TICKCAST_STATE_BUCKET to the GCS bucket that holds Terraform state}"

for tool in gcloud terraform git; do
  command -v "$tool" >/dev/null 2>&1 || { echo "deploy: $tool is required" >&2; exit 1; }
done

tfvar() { # the string value of a top-level assignment in the tfvars file, or $2
  local v
  v="$(sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\(.*\)\"[[:space:]]*\$/\1/p" "$VARS" | head -n 1)"
  echo "${v:-$2}"
}
PROJECT="$(tfvar project_id "")"
REGION="$(tfvar region us-central1)"
PREFIX="$(tfvar name_prefix tickcast)"
[ -n "$PROJECT" ] || { echo "deploy: project_id is not set in $VARS" >&2; exit 1; }

if [ -n "$(git -C "$ROOT" status --porcelain)" ] && [ "${ALLOW_DIRTY:-}" != 1 ]; then
  echo "deploy: the work tree has uncommitted changes; commit them (or ALLOW_DIRTY=1)" >&2
  exit 1
fi
TAG="${TICKCAST_IMAGE_TAG:-$(git -C "$ROOT" rev-parse --short=12 HEAD)}"
IMAGE="$REGION-docker.pkg.dev/$PROJECT/$PREFIX-images/ws-bridge:$TAG"
# google_service_account.function_build (infra/terraform/functions.tf): builds
# never run as the project's default build account.
BUILD_SA="$PREFIX-fn-build@$PROJECT.iam.gserviceaccount.com"
ARTIFACTS_BUCKET="$PROJECT-$PREFIX-artifacts"
TFARGS=(-input=false -var-file="$VARS" -var="bridge_image_tag=$TAG")

echo "== deploying $ENV: project $PROJECT, region $REGION, bridge image tag $TAG"

echo "== staging"
"$PY" -m tickcast.deploy.stage --repo-root "$ROOT" --out build

echo "== terraform init (state: gs://$STATE_BUCKET/tickcast/$ENV)"
terraform -chdir="$TF" init -input=false -reconfigure \
  -backend-config="bucket=$STATE_BUCKET" -backend-config="prefix=tickcast/$ENV"

echo "== prerequisites: APIs, image repository, build service account, JWT secret"
# time_sleep.build_iam_propagation brings the build account and its grants
# with it, and waits for them to propagate (once, on creation).
terraform -chdir="$TF" apply "${TFARGS[@]}" -auto-approve \
  -target=google_project_service.enabled \
  -target=google_artifact_registry_repository.images \
  -target=time_sleep.build_iam_propagation \
  -target=google_secret_manager_secret.ws_jwt
JWT_SECRET="$PREFIX-ws-jwt"
if [ -z "$(gcloud secrets versions list "$JWT_SECRET" --project "$PROJECT" --filter=state=enabled --limit=1 --format='value(name)')" ]; then
  echo "== creating the first version of $JWT_SECRET"
  head -c 48 /dev/urandom | base64 | tr -d '\n' |
    gcloud secrets versions add "$JWT_SECRET" --project "$PROJECT" --data-file=-
fi

echo "== bridge image $IMAGE"
if gcloud artifacts docker images describe "$IMAGE" --project "$PROJECT" >/dev/null 2>&1; then
  echo "already built (tags are immutable)"
elif [ "${USE_DOCKER:-}" = 1 ]; then
  gcloud auth configure-docker "$REGION-docker.pkg.dev" --quiet
  docker build -t "$IMAGE" "$ROOT/build/ws_bridge"
  docker push "$IMAGE"
else
  # The build context goes to the artifacts bucket's sources/ prefix, which the
  # build account may read (the default staging bucket is not granted to it).
  gcloud builds submit "$ROOT/build/ws_bridge" --project "$PROJECT" --region "$REGION" \
    --config "$ROOT/infra/cloudbuild/ws-bridge.yaml" --substitutions "_IMAGE=$IMAGE" \
    --service-account "projects/$PROJECT/serviceAccounts/$BUILD_SA" \
    --gcs-source-staging-dir "gs://$ARTIFACTS_BUCKET/sources/ws-bridge"
fi

echo "== terraform plan"
PLAN="$(mktemp "${TMPDIR:-/tmp}/tickcast-$ENV.XXXXXX.tfplan")"
trap 'rm -f "$PLAN"' EXIT
terraform -chdir="$TF" plan "${TFARGS[@]}" -out="$PLAN"
if [ "${AUTO_APPROVE:-}" != 1 ]; then
  read -r -p "Apply this plan to $ENV ($PROJECT)? [y/N] " answer
  [ "$answer" = y ] || [ "$answer" = Y ] || { echo "deploy: not applied"; exit 1; }
fi
terraform -chdir="$TF" apply -input=false "$PLAN"
terraform -chdir="$TF" output
