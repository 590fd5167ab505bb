"""Device drivers: OSDP readers on RS-485 buses (libosdp) and UHPPOTE IP controllers."""
