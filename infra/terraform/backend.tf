# Remote state in a GCS bucket (versioned, created once by hand, see
# docs/DEPLOY.md). Partial configuration: each environment passes its own
#   terraform init -backend-config="bucket=STATE_BUCKET" -backend-config="prefix=tickcast/ENV"
terraform {
  backend "gcs" {}
}
