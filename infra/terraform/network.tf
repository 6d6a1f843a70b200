# Private network for Memorystore. Functions reach it through a Serverless VPC
# Access connector (egress PRIVATE_RANGES_ONLY: Google APIs stay on the
# default path).
resource "google_compute_network" "vpc" {
  name                    = "${var.name_prefix}-vpc"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"

  depends_on = [google_project_service.enabled]
}

resource "google_compute_subnetwork" "connector" {
  name                     = "${var.name_prefix}-connector"
  region                   = var.region
  network                  = google_compute_network.vpc.id
  ip_cidr_range            = var.connector_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_vpc_access_connector" "main" {
  name          = "${var.name_prefix}-conn"
  region        = var.region
  machine_type  = "e2-micro"
  min_instances = var.connector_instances.min
  max_instances = var.connector_instances.max

  subnet {
    name = google_compute_subnetwork.connector.name
  }
}

# Same effect as the implied deny-all ingress, but logged: the connector's
# health-check and Redis traffic is allowed by higher-priority rules that
# Serverless VPC Access and the Memorystore peering manage themselves.
resource "google_compute_firewall" "deny_ingress" {
  name      = "${var.name_prefix}-deny-ingress"
  network   = google_compute_network.vpc.id
  direction = "INGRESS"
  priority  = 65534

  source_ranges = ["0.0.0.0/0"]

  deny {
    protocol = "all"
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
