terraform {
  # optional() object attributes and validation messages need 1.5+.
  required_version = ">= 1.5, < 2.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 6.x: Cloud Run v2 deletion_protection and build_config.service_account
      # on functions; 7.0 is a breaking release, so it is excluded until tested.
      version = ">= 6.0, < 7.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }
}
