provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = local.labels
}

# The project number (service agents' and the gcf-v2-sources bucket's names).
# Read through Resource Manager, so only once that API is on.
data "google_project" "this" {
  project_id = var.project_id

  depends_on = [google_project_service.enabled]
}
