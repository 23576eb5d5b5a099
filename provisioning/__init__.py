"""provisioning package of the Pi cluster appliance."""
