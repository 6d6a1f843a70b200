terraform {
  # optional() object attributes and validation messages need 1.5+.
  required_version = ">= 1.5, < 2.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 6.x: Cloud Run v2 deletion_protection and build_config.service_account
      # on functions; 7.0 is a breaking release, so it is excluded until tested.
      # 6.1, not 6.0: the oldest release whose schema the offline check
      # (tickcast.deploy.tfschema) can fetch, so both ends of the range are checked.
      version = ">= 6.1, < 7.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
    # time_sleep: the IAM propagation wait before builds (functions.tf), as in
    # the google provider's own cloudfunctions2_basic_builder example.
    time = {
      source  = "hashicorp/time"
      version = ">= 0.9, < 1.0"
    }
  }
}
