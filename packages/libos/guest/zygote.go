package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

const zygoteScript = "/cloister/zygote.py"

// zygote is the python3 runtime's warm interpreter, started at boot so that numpy's import is
// paid while the instance waits in its pool, not during the task.
type zygote struct {
	cmd     *exec.Cmd
	control *os.File
	stdout  *os.File
	stderr  *os.File
	ready   *os.File
}

var zy *zygote

func startZygote() {
	if _, err := os.Stat(zygoteScript); err != nil {
		return
	}
	rr, rw, err0 := os.Pipe()
	cr, cw, err1 := os.Pipe()
	or, ow, err2 := os.Pipe()
	er, ew, err3 := os.Pipe()
	if err0 != nil || err1 != nil || err2 != nil || err3 != nil {
		return
	}
	cmd := exec.Command("/usr/bin/python3", "-s", zygoteScript)
	cmd.Env = childEnv(map[string]string{"PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
	cmd.Dir = "/tmp"
	cmd.ExtraFiles = []*os.File{cr, rw}
	cmd.Stdout = ow
	cmd.Stderr = ew
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return
	}
	cr.Close()
	rw.Close()
	ow.Close()
	ew.Close()
	zy = &zygote{cmd: cmd, control: cw, stdout: or, stderr: er, ready: rr}
}

// waitReady blocks until the interpreter has imported what it pre-imports; a zygote that died
// meanwhile is dropped (tasks then start a fresh interpreter).
func (z *zygote) waitReady() {
	if z == nil {
		return
	}
	b := make([]byte, 1)
	n, _ := z.ready.Read(b)
	z.ready.Close()
	if n != 1 {
		z.discard()
		zy = nil
	}
}

// discard stops an unused zygote (the task runs in a fresh process instead).
func (z *zygote) discard() {
	if z == nil {
		return
	}
	syscall.Kill(-z.cmd.Process.Pid, syscall.SIGKILL)
	z.control.Close()
	z.cmd.Wait()
}

func runZygote(s *spec, argv []string) (*result, error) {
	z := zy
	res := &result{}
	killGroup := func() { syscall.Kill(-z.cmd.Process.Pid, syscall.SIGKILL) }
	stdout := &capped{limit: s.Limits.StdoutBytes, onOver: killGroup}
	stderr := &capped{limit: s.Limits.StderrBytes, live: &liveLog{w: logTo}}
	done := make(chan struct{}, 2)
	go func() { copyAll(stdout, z.stdout); done <- struct{}{} }()
	go func() { copyAll(stderr, z.stderr); done <- struct{}{} }()
	type rl struct {
		name  string
		value uint64
	}
	limits := [][2]interface{}{{"RLIMIT_CORE", 0}}
	for _, l := range []rl{
		{"RLIMIT_CPU", uint64(s.Limits.CPUSeconds)},
		{"RLIMIT_NPROC", uint64(s.Limits.Processes)},
		{"RLIMIT_FSIZE", uint64(s.Limits.FileSizeBytes)},
	} {
		if l.value > 0 {
			limits = append(limits, [2]interface{}{l.name, l.value})
		}
	}
	env := map[string]string{}
	for _, kv := range childEnv(s.Env) {
		if i := strings.IndexByte(kv, '='); i > 0 {
			env[kv[:i]] = kv[i+1:]
		}
	}
	job, _ := json.Marshal(map[string]interface{}{"argv": argv, "env": env, "cwd": "/tmp", "rlimits": limits})
	z.control.Write(append(job, 10))
	z.control.Close()
	err := z.cmd.Wait()
	killGroup()
	<-done
	<-done
	return collect(s, res, stdout, stderr, err)
}

func copyAll(w *capped, r *os.File) {
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}
