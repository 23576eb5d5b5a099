"""hardware package of the Pi cluster appliance."""
