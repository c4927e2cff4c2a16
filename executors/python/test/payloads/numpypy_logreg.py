# Logistic regression with MesaPy's numpy (`_numpypy`), written for this test suite in the style
# of MesaPy payloads: micronumpy's `multiarray` and `umath`, model parameters kept between two
# tasks with `marshal` (arrays marshal as their raw bytes and come back through `frombuffer`).
# operation=train: reads rows "features...,label", writes outputs `params` and `scaler`.
# operation=predict: reads rows of features and those two files, returns the labels as text.
import _numpypy as np
import marshal


def rows(name):
    f = teaclave_open(name, "rb")
    out = []
    while True:
        line = f.readline()
        if not line:
            break
        line = line.strip()
        if line:
            out.append(line.split(","))
    f.close()
    return out


def squash(z):
    return 1.0 / (1.0 + np.umath.exp(-z))


def scale(x, low, high):
    return (x - low) / (high - low)


def train(args):
    data = rows(args["train_file"])
    x = np.multiarray.array([r[:-1] for r in data], dtype="float64")
    y = np.multiarray.array([r[-1] for r in data], dtype="float64").reshape(1, -1)
    low, high = x.min(0), x.max(0)
    x = scale(x, low, high).T
    count = x.shape[1]
    w = np.multiarray.zeros((x.shape[0], 1))
    b = 0.0
    for _ in xrange(2000):
        a = squash(w.T.dot(x) + b)
        d = a - y
        w = w - 0.05 * (x.dot(d.T) / count)
        b = b - 0.05 * (d.sum() / count)
    save(args["params"], {"w": w, "b": b})
    save(args["scaler"], {"max": high, "min": low})
    return "Training is finished!"


def save(name, value):
    out = teaclave_open(name, "wb")
    out.write(marshal.dumps(value))
    out.close()


def load(name):
    f = teaclave_open(name, "rb")
    value = marshal.loads(f.read())
    f.close()
    return value


def predict(args):
    params, scaler = load(args["params"]), load(args["scaler"])
    x = np.multiarray.array(rows(args["predict_file"]), dtype="float64")
    x = scale(x, np.multiarray.frombuffer(scaler["min"]), np.multiarray.frombuffer(scaler["max"])).T
    w = np.multiarray.frombuffer(params["w"])
    b = np.multiarray.frombuffer(params["b"]) if isinstance(params["b"], bytes) else params["b"]
    a = squash(w.dot(x) + b)
    labels = np.multiarray.zeros((1, x.shape[1]))
    for i in xrange(x.shape[1]):
        labels[0, i] = 1 if a[i] > 0.5 else 0
    return str(labels)


def entrypoint(argv):
    args = dict(zip(argv[0::2], argv[1::2]))
    if args.get("operation") == "train":
        return train(args)
    if args.get("operation") == "predict":
        return predict(args)
    return "NOT supported argv"
