package guestinit

import (
	"syscall"
)

// rcLocal runs /etc/rc.local at every boot when it exists and is executable, as Debian's rc-local service
// does, with its output on the console. It is how a service installed on a machine survives into the AMIs
// made from it and the instances launched from those: the file is on the root disk, so every later boot of
// any copy runs it. It runs in the background: a script that serves forever must not hold up the boot.
func (g *guest) rcLocal() {
	done, err := g.startRCLocal()
	if err != nil || done == nil {
		return
	}
	go func() {
		if ws := <-done; !ws.Exited() || ws.ExitStatus() != 0 {
			g.say("overcast-init: /etc/rc.local ended with %s", describe(ws))
		}
	}()
}

// startRCLocal starts the script; it returns a nil channel when there is none to run.
func (g *guest) startRCLocal() (<-chan syscall.WaitStatus, error) {
	p := g.path("etc/rc.local")
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Mode&0o111 == 0 {
		return nil, nil
	}
	g.say("overcast-init: running /etc/rc.local")
	_, done, err := g.spawn(p, []string{p, "start"})
	if err != nil {
		g.say("overcast-init: /etc/rc.local: %v", err)
		return nil, err
	}
	return done, nil
}
