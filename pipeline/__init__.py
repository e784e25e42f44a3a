"""fitpipe: activity files in, analysis-ready parquet tables out.

    import pipeline
    content = pipeline.read_file("ride.fit")
    content.activities, content.laps, content.samples, content.parse_status
"""

__version__ = "0.1.0"

from .config import Settings, load_settings  # noqa: E402
from .run.ingest import FileContent, RunReport, ingest, read_file  # noqa: E402
from .metrics.stage import run_metrics  # noqa: E402

__all__ = ["FileContent", "RunReport", "Settings", "ingest", "load_settings", "read_file", "run_metrics", "__version__"]
