package main

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

type offerBody struct {
	TaskID        string `json:"taskId"`
	Nonce         string `json:"nonce"`
	PayloadSha256 string `json:"payloadSha256"`
	SpecSha256    string `json:"specSha256"`
}

// spec is how the payload runs: resolved by the node from the function's manifest and the task's
// arguments, and bound by its hash in the commit.
type spec struct {
	Argv    []string          `json:"argv"`
	Env     map[string]string `json:"env"`
	Inputs  []string          `json:"inputs"`
	Outputs []string          `json:"outputs"`
	Result  string            `json:"result"`
	// "zygote": run the script in the instance's warm interpreter (numpy already imported).
	Mode   string `json:"mode"`
	Limits struct {
		CPUSeconds     int   `json:"cpuSeconds"`
		Processes      int   `json:"processes"`
		StdoutBytes    int64 `json:"stdoutBytes"`
		OutputBytes    int64 `json:"outputBytes"`
		StderrBytes    int64 `json:"stderrBytes"`
		FileSizeBytes  int64 `json:"fileSizeBytes"`
		AddressSpaceMB int64 `json:"addressSpaceMib"`
	} `json:"limits"`
}

// Where the running task's live log lines go (the node's TLS channel), nil outside a task.
var logTo io.Writer

type taskRun struct {
	conn     io.ReadWriter
	key      *ecdsa.PrivateKey
	spkiHash []byte
	ev       *evidenceSource
	code     string
}

func (t *taskRun) failWith(code string, err error) error {
	t.code = code
	return err
}

func unhex32(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, errors.New("expected 32 bytes of hex")
	}
	return b, nil
}

func (t *taskRun) serve() error {
	f, err := readFrame(t.conn)
	if err != nil || f.T != "offer" || len(f.Blobs) != 2 {
		return t.failWith("protocol", errors.New("expected an offer with payload and spec"))
	}
	var o offerBody
	if err := json.Unmarshal(f.Body, &o); err != nil {
		return t.failWith("protocol", err)
	}
	nonce, err1 := unhex32(o.Nonce)
	want, err2 := unhex32(o.PayloadSha256)
	wantSpec, err3 := unhex32(o.SpecSha256)
	if err1 != nil || err2 != nil || err3 != nil || o.TaskID == "" {
		return t.failWith("protocol", errors.New("offer fields malformed"))
	}
	payload, specBytes := f.Blobs[0], f.Blobs[1]
	got := sha256.Sum256(payload)
	if !bytes.Equal(got[:], want) {
		return t.failWith("payload-hash", errors.New("payload does not match the offered SHA-256"))
	}
	gotSpec := sha256.Sum256(specBytes)
	if !bytes.Equal(gotSpec[:], wantSpec) {
		return t.failWith("spec-hash", errors.New("run spec does not match the offered SHA-256"))
	}
	var s spec
	if err := json.Unmarshal(specBytes, &s); err != nil || len(s.Argv) == 0 {
		return t.failWith("spec", errors.New("run spec malformed"))
	}
	rd := commitReportData(o.TaskID, nonce, got[:], gotSpec[:], t.spkiHash)
	commit, err := t.ev.evidence(rd)
	if err != nil {
		return t.failWith("evidence", err)
	}
	if err := writeFrame(t.conn, "commit", map[string]string{"reportData": hex.EncodeToString(rd)}, commit); err != nil {
		return err
	}
	// Inputs arrive only after the node has checked the commit.
	f, err = readFrame(t.conn)
	if err != nil || f.T != "inputs" {
		return t.failWith("protocol", errors.New("expected inputs"))
	}
	var names []string
	if err := json.Unmarshal(f.Body, &names); err != nil || len(names) != len(f.Blobs) {
		return t.failWith("protocol", errors.New("inputs malformed"))
	}
	if err := installPayload(payload); err != nil {
		return t.failWith("payload", err)
	}
	if err := writeInputs(names, f.Blobs); err != nil {
		return t.failWith("inputs", err)
	}
	logTo = t.conn
	res, err := run(&s)
	logTo = nil
	if err != nil {
		return t.failWith(res.code, err)
	}
	return t.reply(rd, res)
}

func validName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, "/\x00") && len(n) <= 255
}

func installPayload(p []byte) error {
	if len(p) > 262 && string(p[257:262]) == "ustar" {
		return extract(p, "/app")
	}
	return os.WriteFile("/app/main", p, 0o555)
}

// extract unpacks a ustar archive into dir: regular files and directories only, no absolute
// or escaping paths, no links, no special modes.
func extract(p []byte, dir string) error {
	r := tar.NewReader(bytes.NewReader(p))
	for {
		h, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("archive path %q escapes /app", h.Name)
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(h.Mode&0o555|0o400))
			if err != nil {
				return err
			}
			_, err = io.Copy(f, r)
			f.Close()
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("archive entry %q is not a file or directory", h.Name)
		}
	}
}

func writeInputs(names []string, blobs [][]byte) error {
	if err := os.MkdirAll("/task/in", 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll("/task/out", 0o755); err != nil {
		return err
	}
	for i, n := range names {
		if !validName(n) {
			return fmt.Errorf("invalid input name %q", n)
		}
		if err := os.WriteFile("/task/in/"+n, blobs[i], 0o444); err != nil {
			return err
		}
	}
	return os.Chmod("/task/in", 0o555)
}

type result struct {
	code     string
	exit     int
	signal   string
	stdout   []byte
	stderr   []byte
	outNames []string
	outData  [][]byte
}

// capped reads at most limit bytes and notes whether more came; the rest is drained so the
// child never blocks on a full pipe.
type capped struct {
	buf    bytes.Buffer
	limit  int64
	over   bool
	onOver func()
	// The task log's live lines (stderr only): what is kept is also sent as it comes.
	live *liveLog
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.limit - int64(c.buf.Len())
	if int64(len(p)) > room {
		if room > 0 {
			c.buf.Write(p[:room])
			if c.live != nil {
				c.live.write(p[:room])
			}
		}
		if !c.over && c.onOver != nil {
			c.onOver()
		}
		c.over = true
		return len(p), nil
	}
	c.buf.Write(p)
	if c.live != nil {
		c.live.write(p)
	}
	return len(p), nil
}

// zygoteArgv reports whether argv is "python3 SCRIPT ARGS…" (no interpreter options), the
// shape the warm interpreter can run, and returns SCRIPT ARGS….
func zygoteArgv(argv []string) ([]string, bool) {
	if len(argv) < 2 || (argv[0] != "python3" && argv[0] != "/usr/bin/python3") || strings.HasPrefix(argv[1], "-") {
		return nil, false
	}
	return argv[1:], true
}

func run(s *spec) (*result, error) {
	if zy != nil && s.Mode == "zygote" {
		if argv, ok := zygoteArgv(s.Argv); ok {
			return runZygote(s, argv)
		}
	}
	zy.discard()
	res := &result{}
	cmd := exec.Command(s.Argv[0], s.Argv[1:]...)
	cmd.Env = childEnv(s.Env)
	cmd.Dir = "/tmp"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	killGroup := func() {
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	stdout := &capped{limit: s.Limits.StdoutBytes, onOver: killGroup}
	stderr := &capped{limit: s.Limits.StderrBytes, live: &liveLog{w: logTo}}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		res.code = "exec"
		return res, fmt.Errorf("payload could not start: %v", err)
	}
	// Limits that would hurt the agent itself apply to the payload only, set right after its
	// exec (the pids cgroup and the memory limit bound the instance in the meantime).
	limitChild(cmd.Process.Pid, s)
	err := cmd.Wait()
	killGroup()
	return collect(s, res, stdout, stderr, err)
}

func collect(s *spec, res *result, stdout, stderr *capped, err error) (*result, error) {
	if stderr.live != nil {
		stderr.live.flush()
	}
	res.stdout = stdout.buf.Bytes()
	res.stderr = stderr.buf.Bytes()
	if stdout.over {
		res.code = "stdout-too-large"
		return res, fmt.Errorf("the payload wrote more than %d bytes to stdout", s.Limits.StdoutBytes)
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			res.code = "exec"
			return res, fmt.Errorf("payload could not start: %v", err)
		}
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			res.signal = signalName(ws.Signal())
			res.exit = 128 + int(ws.Signal())
		} else {
			res.exit = ws.ExitStatus()
		}
	}
	for _, n := range s.Outputs {
		if !validName(n) {
			res.code = "outputs"
			return res, fmt.Errorf("invalid output name %q", n)
		}
		st, err := os.Lstat("/task/out/" + n)
		if err != nil {
			continue
		}
		if !st.Mode().IsRegular() {
			res.code = "outputs"
			return res, fmt.Errorf("output %s is not a regular file", n)
		}
		if st.Size() > s.Limits.OutputBytes {
			res.code = "output-too-large"
			return res, fmt.Errorf("output %s exceeds %d bytes", n, s.Limits.OutputBytes)
		}
		b, err := os.ReadFile("/task/out/" + n)
		if err != nil {
			res.code = "outputs"
			return res, err
		}
		res.outNames = append(res.outNames, n)
		res.outData = append(res.outData, b)
	}
	return res, nil
}

func resultDigest(commitRD []byte, exit int, stdout []byte, names []string, data [][]byte) []byte {
	h := sha256.New()
	h.Write([]byte(resultDomain))
	h.Write(commitRD)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(int32(exit)))
	h.Write(n[:])
	so := sha256.Sum256(stdout)
	h.Write(so[:])
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return names[idx[a]] < names[idx[b]] })
	binary.BigEndian.PutUint32(n[:], uint32(len(names)))
	h.Write(n[:])
	for _, i := range idx {
		binary.BigEndian.PutUint32(n[:], uint32(len(names[i])))
		h.Write(n[:])
		h.Write([]byte(names[i]))
		d := sha256.Sum256(data[i])
		h.Write(d[:])
	}
	return h.Sum(nil)
}

func (t *taskRun) reply(commitRD []byte, r *result) error {
	d := resultDigest(commitRD, r.exit, r.stdout, r.outNames, r.outData)
	sig, err := ecdsa.SignASN1(rand.Reader, t.key, d)
	if err != nil {
		return err
	}
	body := map[string]interface{}{
		"exit":      r.exit,
		"signal":    r.signal,
		"outputs":   r.outNames,
		"signature": hex.EncodeToString(sig),
	}
	blobs := append([][]byte{r.stdout, r.stderr}, r.outData...)
	return writeFrame(t.conn, "result", body, blobs...)
}

func limitChild(pid int, s *spec) {
	set := func(res int, v uint64) {
		lim := syscall.Rlimit{Cur: v, Max: v}
		if res == syscall.RLIMIT_CPU {
			// SIGXCPU at the limit (the reason the node reports), SIGKILL a second later.
			lim.Max = v + 1
		}
		syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(res), uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
	}
	if s.Limits.CPUSeconds > 0 {
		set(syscall.RLIMIT_CPU, uint64(s.Limits.CPUSeconds))
	}
	if s.Limits.Processes > 0 {
		set(6 /* RLIMIT_NPROC */, uint64(s.Limits.Processes))
	}
	if s.Limits.FileSizeBytes > 0 {
		set(syscall.RLIMIT_FSIZE, uint64(s.Limits.FileSizeBytes))
	}
	if s.Limits.AddressSpaceMB > 0 {
		set(syscall.RLIMIT_AS, uint64(s.Limits.AddressSpaceMB)<<20)
	}
	set(syscall.RLIMIT_CORE, 0)
}

// execChild runs in the payload's process, before exec: limits that would hurt the agent itself
// (CPU time, process count) apply to the payload only.
func execChild(args []string) {
	if len(args) < 6 || args[4] != "--" {
		fail("exec: bad arguments")
	}
	set := func(res int, v uint64) {
		if v > 0 {
			syscall.Setrlimit(res, &syscall.Rlimit{Cur: v, Max: v})
		}
	}
	num := func(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }
	set(syscall.RLIMIT_CPU, num(args[0]))
	set(6 /* RLIMIT_NPROC */, num(args[1]))
	set(syscall.RLIMIT_FSIZE, num(args[2]))
	set(syscall.RLIMIT_AS, num(args[3])<<20)
	syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	argv := args[5:]
	bin := argv[0]
	if !strings.Contains(bin, "/") {
		p, err := exec.LookPath(bin)
		if err != nil {
			fail("exec: %s not found", bin)
		}
		bin = p
	}
	err := syscall.Exec(bin, argv, os.Environ())
	fail("exec %s: %v", bin, err)
}

func childEnv(extra map[string]string) []string {
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8"}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+extra[k])
	}
	return env
}

func signalName(sig syscall.Signal) string {
	names := map[syscall.Signal]string{
		syscall.SIGKILL: "SIGKILL", syscall.SIGXCPU: "SIGXCPU (CPU time limit)", syscall.SIGSEGV: "SIGSEGV",
		syscall.SIGABRT: "SIGABRT", syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGILL: "SIGILL",
		syscall.SIGTERM: "SIGTERM", syscall.SIGXFSZ: "SIGXFSZ (file size limit)", syscall.SIGPIPE: "SIGPIPE",
	}
	if n, ok := names[sig]; ok {
		return n
	}
	return fmt.Sprintf("signal %d", int(sig))
}
