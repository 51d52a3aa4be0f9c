"""Where fits run: device resolution, the slot pool, CPU thread shares and device memory."""
