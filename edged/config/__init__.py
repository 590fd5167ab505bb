"""Site configuration: pydantic v2 models (`extra="forbid"`) and the loader."""

from edged.config.camera import CameraConfig
from edged.config.loader import ConfigError, load_model, load_site_config, validate_text
from edged.config.site import SiteConfig

__all__ = ["CameraConfig", "ConfigError", "SiteConfig", "load_model", "load_site_config", "validate_text"]
