locals {
  # Every API that a resource or data source in this configuration calls.
  # tests/unit/deploy/test_terraform_apis.py maps each resource and data source
  # type to the API it needs and fails when one is missing here or when a
  # resource is not ordered after google_project_service.enabled.
  #
  # Not listed: serviceusage.googleapis.com, which google_project_service itself
  # calls (it cannot enable itself; it is on in every new project:
  # https://cloud.google.com/service-usage/docs/enable-disable), and
  # eventarc.googleapis.com, which only event_trigger functions need (ours are
  # HTTP functions fed by our own push subscriptions; "Optionally, enable the
  # Eventarc API to use event triggers": https://cloud.google.com/run/docs/deploy-functions).
  apis = [
    # Cloud Functions 2nd gen: the function API, the build that turns the source
    # into an image, the registry it is pushed to, the Cloud Run service that
    # runs it and the build logs: https://cloud.google.com/functions/docs/deploy
    # ("Enable the Cloud Functions, Cloud Build, Artifact Registry, Cloud Run
    # Admin and Cloud Logging APIs") and https://cloud.google.com/run/docs/deploy-functions.
    "cloudfunctions.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "run.googleapis.com",     # also the bridge (google_cloud_run_v2_service)
    "logging.googleapis.com", # also google_logging_metric
    # data.google_project (the project number) and google_project_iam_member
    # read and set the project's IAM policy through Resource Manager:
    # https://cloud.google.com/resource-manager/reference/rest/v1/projects
    "cloudresourcemanager.googleapis.com",
    # google_service_account(_iam_member): https://cloud.google.com/iam/docs/service-accounts-create
    "iam.googleapis.com",
    # topics, subscriptions and their IAM: https://cloud.google.com/pubsub/docs/reference/rest
    "pubsub.googleapis.com",
    # google_firestore_*: https://cloud.google.com/firestore/docs/reference/rest
    "firestore.googleapis.com",
    # Memorystore: https://cloud.google.com/memorystore/docs/redis/create-instance-gcloud
    "redis.googleapis.com",
    # the VPC, subnet and firewall, and the connector's instances:
    # https://cloud.google.com/vpc/docs/serverless-vpc-access ("enable the
    # Serverless VPC Access API ... and the Compute Engine API").
    "compute.googleapis.com",
    "vpcaccess.googleapis.com",
    # the Redis URL and JWT secrets: https://cloud.google.com/secret-manager/docs/reference/rest
    "secretmanager.googleapis.com",
    # the clock job: https://cloud.google.com/scheduler/docs/setup
    "cloudscheduler.googleapis.com",
    # alert policies and the dashboard: https://cloud.google.com/monitoring/api/enable-api
    "monitoring.googleapis.com",
    # the monthly budget alert (google_billing_budget, monitoring.tf): the Cloud
    # Billing Budget API, https://cloud.google.com/billing/docs/how-to/budget-api-overview
    # ("enable the Cloud Billing Budget API"). Called with the provider's quota
    # project: see docs/DEPLOY.md, budget.
    "billingbudgets.googleapis.com",
    # the artifacts bucket and the source objects: https://cloud.google.com/storage/docs/json_api
    "storage.googleapis.com",
  ]
}

# Everything else is ordered after this: a resource either lists it in
# depends_on or references something that does (the test walks the graph).
resource "google_project_service" "enabled" {
  for_each = toset(local.apis)

  project = var.project_id
  service = each.value
  # Disabling an API on destroy would break anything else in the project that uses it.
  disable_on_destroy = false
}
