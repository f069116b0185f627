"""Writers of small files in the data sets' original formats, for the loaders' tests."""
import gzip
import hashlib
import io
import pickle
import struct
import tarfile

import numpy as np

IDX_TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}


def idx_bytes(array: np.ndarray) -> bytes:
    """Gzipped IDX: two zero bytes, the type code, the number of dims, big-endian int32 dims, data."""
    array = np.asarray(array)
    header = bytes([0, 0, IDX_TYPE_CODES[array.dtype], array.ndim])
    header += b"".join(struct.pack(">i", size) for size in array.shape)
    return gzip.compress(header + array.tobytes())


def cifar_batch_bytes(images_nhwc: np.ndarray, labels: np.ndarray, label_key: str) -> bytes:
    """One CIFAR python-version batch: a pickled dict of byte-string keys, rows channel-major."""
    rows = images_nhwc.transpose(0, 3, 1, 2).reshape(len(images_nhwc), -1)
    return pickle.dumps({b"batch_label": b"fake", label_key.encode(): [int(label) for label in labels],
                         b"data": rows, b"filenames": [b"x.png"] * len(labels)})


def tar_gz_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def images_and_labels(rng: np.random.Generator, per_class: int, num_classes: int, shape):
    labels = np.repeat(np.arange(num_classes), per_class)
    rng.shuffle(labels)
    images = rng.integers(0, 256, (len(labels), *shape), dtype=np.uint8)
    return images, labels
