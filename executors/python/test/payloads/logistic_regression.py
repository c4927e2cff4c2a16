# Logistic regression by batch gradient descent, written for this test suite in the subset of
# Python that both MesaPy (2.7) and Python 3 accept. Training rows: features then a 0/1 label;
# prediction rows: features only. Returns the predicted labels as "[1.0 0.0 ...]".
import math


def read_rows(name):
    f = teaclave_open(name, "rb")
    rows = []
    for line in f:
        line = line.strip()
        if line:
            rows.append([float(x) for x in line.split(",")])
    f.close()
    return rows


def sigmoid(z):
    if z < -30:
        return 0.0
    if z > 30:
        return 1.0
    return 1.0 / (1.0 + math.exp(-z))


def entrypoint(argv):
    args = dict(zip(argv[0::2], argv[1::2]))
    rate = float(args["alpha"])
    steps = int(args["iterations"])
    train = read_rows("training_data")
    n = len(train[0]) - 1
    w = [0.0] * (n + 1)
    for _ in range(steps):
        grad = [0.0] * (n + 1)
        for row in train:
            z = w[n]
            for i in range(n):
                z += w[i] * row[i]
            err = sigmoid(z) - row[n]
            for i in range(n):
                grad[i] += err * row[i]
            grad[n] += err
        for i in range(n + 1):
            w[i] -= rate * grad[i] / len(train)
    labels = []
    for row in read_rows("predict_data"):
        z = w[n]
        for i in range(n):
            z += w[i] * row[i]
        labels.append("1.0" if sigmoid(z) >= 0.5 else "0.0")
    out = teaclave_open("prediction", "wb")
    out.write("\n".join(labels) + "\n")
    out.close()
    return "[" + " ".join(labels) + "]"
