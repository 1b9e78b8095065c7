"""Episodes written as a LeRobotDataset v3.0: the collection format robot-learning code reads.

The layout (LeRobot's `codebase_version` "v3.0"):

```
ROOT/meta/info.json                                  schema: features, fps, totals, path templates
ROOT/meta/stats.json                                 per-feature min/max/mean/std/count over all frames
ROOT/meta/tasks.parquet                              task strings (the index) -> task_index
ROOT/meta/episodes/chunk-000/file-000.parquet        one row per episode: length, tasks, where its
                                                     rows and video frames are, its own stats
ROOT/data/chunk-CCC/file-FFF.parquet                 one row per frame
ROOT/videos/observation.images.CAM/chunk-CCC/file-FFF.mp4   one MP4 per camera per file
```

`append_episode` adds one episode: its frames go into a new data file and a new MP4 per camera
(v3.0 lets a chunk hold many files; each episode's row says which file and which time span is its),
its row joins the episodes table, new tasks join the tasks table, the stats are re-aggregated,
and `info.json` is written last, so a dataset interrupted mid-append still reads as it was before.
Episode indices, frame indices and the global row index continue from what is there. Appending to
a dataset of other features or another fps is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mimicsim.atomic import atomic_path, write_text_atomic
from mimicsim.errors import ConfigError, InputFileError

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
TASKS_PATH = "meta/tasks.parquet"
STAT_NAMES = ("min", "max", "mean", "std", "count")
# Only every k-th frame enters an image's statistics (LeRobot also samples frames for them).
IMAGE_STATS_STRIDE = 5
_INDEX_FEATURES = {
    "timestamp": "float32",
    "frame_index": "int64",
    "episode_index": "int64",
    "index": "int64",
    "task_index": "int64",
}


@dataclass(frozen=True)
class Episode:
    """One episode's frames: `vectors` name -> (N, D) float arrays (e.g. "observation.state",
    "action"), `images` camera -> uint8 (N, H, W, 3), and the episode's task (instruction)."""

    vectors: dict[str, np.ndarray]
    images: dict[str, np.ndarray]
    task: str

    @property
    def length(self) -> int:
        return int(next(iter(self.vectors.values())).shape[0])


def video_key(camera: str) -> str:
    return f"observation.images.{camera}"


def features_of(episode: Episode, fps: int, names: dict[str, list[str]]) -> dict[str, Any]:
    """The `features` entry of info.json for episodes shaped like `episode`."""
    features: dict[str, Any] = {}
    for camera, frames in episode.images.items():
        height, width = int(frames.shape[1]), int(frames.shape[2])
        features[video_key(camera)] = {
            "dtype": "video",
            "shape": [height, width, 3],
            "names": ["height", "width", "channels"],
            "info": {
                "video.height": height,
                "video.width": width,
                "video.codec": "h264",
                "video.pix_fmt": "yuv420p",
                "video.is_depth_map": False,
                "video.fps": fps,
                "video.channels": 3,
                "has_audio": False,
            },
        }
    for key, values in episode.vectors.items():
        features[key] = {"dtype": "float32", "shape": [int(values.shape[1])], "names": list(names.get(key, []))}
    for key, dtype in _INDEX_FEATURES.items():
        features[key] = {"dtype": dtype, "shape": [1], "names": None}
    return features


def append_episode(
    root: str | Path,
    episode: Episode,
    *,
    fps: int,
    robot_type: str,
    names: dict[str, list[str]] | None = None,
) -> int:
    """Append `episode` to the dataset at `root` (created when absent); returns its episode index."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mimicsim.rendering import video_writer

    root = Path(root)
    _check_episode(episode)
    features = features_of(episode, fps, names or {})
    info_path = root / "meta" / "info.json"
    if info_path.exists():
        info = read_info(root)
        _check_compatible(root, info, features, fps)
        episodes = pq.read_table(root / EPISODES_PATH).to_pylist()
        tasks = pq.read_table(root / TASKS_PATH).column("task").to_pylist()
    else:
        info = {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": robot_type,
            "total_episodes": 0,
            "total_frames": 0,
            "total_tasks": 0,
            "chunks_size": CHUNKS_SIZE,
            "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 500,
            "fps": fps,
            "splits": {},
            "data_path": DATA_PATH,
            "video_path": VIDEO_PATH,
            "features": features,
        }
        episodes, tasks = [], []
    index = int(info["total_episodes"])
    start = int(info["total_frames"])
    n = episode.length
    chunk, file = divmod(index, CHUNKS_SIZE)
    if episode.task not in tasks:
        tasks.append(episode.task)
    task_index = tasks.index(episode.task)

    columns = {
        key: pa.FixedSizeListArray.from_arrays(
            pa.array(values.astype(np.float32).ravel(), pa.float32()), int(values.shape[1])
        )
        for key, values in episode.vectors.items()
    }
    columns["timestamp"] = pa.array(np.arange(n, dtype=np.float32) / np.float32(fps))
    columns["frame_index"] = pa.array(np.arange(n, dtype=np.int64))
    columns["episode_index"] = pa.array(np.full(n, index, dtype=np.int64))
    columns["index"] = pa.array(np.arange(start, start + n, dtype=np.int64))
    columns["task_index"] = pa.array(np.full(n, task_index, dtype=np.int64))
    with atomic_path(root / DATA_PATH.format(chunk_index=chunk, file_index=file)) as tmp:
        pq.write_table(pa.table(columns), tmp)
    for camera, frames in episode.images.items():
        key = video_key(camera)
        with video_writer(root / VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file), fps) as writer:
            for frame in frames:
                writer.append_data(frame)

    stats = _episode_stats(episode, columns)
    row: dict[str, Any] = {
        "episode_index": index,
        "tasks": [episode.task],
        "length": n,
        "data/chunk_index": chunk,
        "data/file_index": file,
        "dataset_from_index": start,
        "dataset_to_index": start + n,
    }
    for camera in episode.images:
        key = video_key(camera)
        row |= {
            f"videos/{key}/chunk_index": chunk,
            f"videos/{key}/file_index": file,
            f"videos/{key}/from_timestamp": 0.0,
            f"videos/{key}/to_timestamp": n / fps,
        }
    row |= {"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
    for feature, values in stats.items():
        for stat, value in values.items():
            flat = np.asarray(value).ravel()
            row[f"stats/{feature}/{stat}"] = [int(x) for x in flat] if stat == "count" else flat.astype(float).tolist()
    episodes.append(row)
    with atomic_path(root / EPISODES_PATH) as tmp:
        pq.write_table(pa.Table.from_pylist(episodes), tmp)
    _write_tasks(root / TASKS_PATH, tasks)
    total = index + 1
    write_text_atomic(root / "meta" / "stats.json", json.dumps(_aggregate(episodes, info["features"]), indent=2))
    info |= {
        "total_episodes": total,
        "total_frames": start + n,
        "total_tasks": len(tasks),
        "splits": {"train": f"0:{total}"},
    }
    write_text_atomic(info_path, json.dumps(info, indent=2))
    return index


def check_appendable(root: str | Path, episode: Episode, fps: int) -> None:
    """Fail (before any work) unless episodes shaped like `episode` can be appended at `root`:
    nothing there yet, or a v3.0 dataset of the same features and fps."""
    root = Path(root)
    if (root / "meta" / "info.json").exists():
        _check_compatible(root, read_info(root), features_of(episode, fps, {}), fps)


def read_info(root: str | Path) -> dict[str, Any]:
    path = Path(root) / "meta" / "info.json"
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputFileError(path, f"not a readable LeRobotDataset info.json ({exc})") from None
    if info.get("codebase_version") != CODEBASE_VERSION:
        raise InputFileError(
            path, f"a LeRobotDataset {info.get('codebase_version')!r}; appending needs {CODEBASE_VERSION!r}"
        )
    return info


def _check_episode(episode: Episode) -> None:
    lengths = {key: len(v) for key, v in {**episode.vectors, **episode.images}.items()}
    if len(set(lengths.values())) != 1 or min(lengths.values()) == 0:
        raise ConfigError(f"an episode's features must have one common, non-zero length; got {lengths}")
    if not episode.task:
        raise ConfigError("an episode needs a task (its instruction)")


def _check_compatible(root: Path, info: dict[str, Any], features: dict[str, Any], fps: int) -> None:
    if info.get("fps") != fps:
        raise ConfigError(f"{root}: the dataset is recorded at {info.get('fps')} fps, this episode at {fps}")
    theirs = {key: (value["dtype"], list(value["shape"])) for key, value in info.get("features", {}).items()}
    ours = {key: (value["dtype"], list(value["shape"])) for key, value in features.items()}
    if theirs != ours:
        raise ConfigError(
            f"{root}: the dataset's features {sorted(theirs.items())} differ from this episode's "
            f"{sorted(ours.items())}; write to a new --dataset folder"
        )


def _write_tasks(path: Path, tasks: list[str]) -> None:
    """tasks.parquet as pandas writes a frame indexed by the task strings (LeRobot reads it so)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())})
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None},
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    table = table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _episode_stats(episode: Episode, columns: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    stats = {}
    for key, values in episode.vectors.items():
        stats[key] = _stats(values.astype(np.float64), axis=0)
    for key in _INDEX_FEATURES:
        stats[key] = _stats(np.asarray(columns[key].to_numpy(), dtype=np.float64)[:, None], axis=0)
    for camera, frames in episode.images.items():
        sample = frames[::IMAGE_STATS_STRIDE].astype(np.float64) / 255.0  # (n, H, W, 3)
        channels = sample.transpose(3, 0, 1, 2).reshape(3, -1)
        per_channel = _stats(channels.T, axis=0)
        stats[video_key(camera)] = {
            k: (v.reshape(3, 1, 1) if k != "count" else np.array([len(sample)])) for k, v in per_channel.items()
        }
    return stats


def _stats(values: np.ndarray, axis: int) -> dict[str, np.ndarray]:
    return {
        "min": values.min(axis=axis),
        "max": values.max(axis=axis),
        "mean": values.mean(axis=axis),
        "std": values.std(axis=axis),
        "count": np.array([values.shape[axis]]),
    }


def _aggregate(episodes: list[dict[str, Any]], features: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Dataset stats from every episode's: counts add up, means are count-weighted and variances
    combine as within-episode plus between-episode parts."""
    out: dict[str, dict[str, Any]] = {}
    for feature, spec in features.items():
        if f"stats/{feature}/mean" not in episodes[0]:
            continue
        shape = (3, 1, 1) if spec["dtype"] == "video" else (-1,)
        get = {s: np.array([np.reshape(e[f"stats/{feature}/{s}"], shape) for e in episodes]) for s in STAT_NAMES[:4]}
        counts = np.array([e[f"stats/{feature}/count"][0] for e in episodes], dtype=np.float64)
        counts = counts.reshape(len(episodes), *([1] * (get["mean"].ndim - 1)))
        total = counts.sum()
        mean = (get["mean"] * counts).sum(axis=0) / total
        variance = ((get["std"] ** 2 + (get["mean"] - mean) ** 2) * counts).sum(axis=0) / total
        out[feature] = {
            "min": get["min"].min(axis=0).tolist(),
            "max": get["max"].max(axis=0).tolist(),
            "mean": mean.tolist(),
            "std": np.sqrt(variance).tolist(),
            "count": [int(total)],
        }
    return out
