//go:build windows

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/edgegw/edgegw/config"
)

// serviceWait bounds how long start and stop wait for the service to get there.
const serviceWait = 30 * time.Second

// secureDirFor gives dir the protected ACL of dirSDDL for account, inherited by everything in it.
func secureDirFor(dir, account string) error {
	sid, ok := wellKnownSID(account)
	if !ok {
		s, _, _, err := windows.LookupSID("", account)
		if err != nil {
			return fmt.Errorf("account %s: %w", account, err)
		}
		sid = s.String()
	}
	sd, err := windows.SecurityDescriptorFromString(dirSDDL(sid))
	if err != nil {
		return fmt.Errorf("ACL for %s: %w", dir, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("ACL for %s: %w", dir, err)
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("set the ACL of %s: %w", dir, err)
	}
	return nil
}

func serviceInstall(cfgPath, runAs string, stdout io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("service manager: %w (run from an elevated prompt)", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(serviceName); err == nil {
		s.Close()
		return fmt.Errorf("the service %s is already installed (edgegw service uninstall first)", serviceName)
	}
	dir := filepath.Dir(cfgPath)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if err := secureDirFor(dir, runAs); err != nil {
		return err
	}
	acct := &account{name: runAs, uid: -1, gid: -1}
	note, id, err := initConfig(cfgPath, dir, "", acct)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return err
	}
	err = eventlog.InstallAsEventCreate(serviceName, eventlog.Error|eventlog.Warning|eventlog.Info)
	if err != nil && !strings.Contains(err.Error(), "exists") {
		return fmt.Errorf("event log source %s: %w", serviceName, err)
	}
	startName := runAs
	if strings.EqualFold(runAs, "LocalSystem") {
		startName = ""
	}
	s, err := m.CreateService(serviceName, exe, mgr.Config{
		DisplayName:      serviceDisplayName,
		Description:      serviceDescription,
		StartType:        mgr.StartAutomatic,
		DelayedAutoStart: true,
		ServiceStartName: startName,
		SidType:          windows.SERVICE_SID_TYPE_UNRESTRICTED,
	}, serviceArgs(cfgPath)...)
	if err != nil {
		return fmt.Errorf("create the service: %w", err)
	}
	defer s.Close()
	// Restart after 5 s, 5 s, then every 30 s; the count starts again after a day without failure.
	err = s.SetRecoveryActions([]mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
	}, 24*60*60)
	if err == nil {
		err = s.SetRecoveryActionsOnNonCrashFailures(true)
	}
	if err != nil {
		return fmt.Errorf("recovery actions: %w", err)
	}
	fmt.Fprintf(stdout, "installed the service %s: %s %s, as %s\n", serviceName, exe, strings.Join(serviceArgs(cfgPath), " "), runAs)
	fmt.Fprintf(stdout, "config %s (%s), gateway id %s; %s is for SYSTEM, Administrators and the service only\n", cfgPath, note, id, dir)
	fmt.Fprintf(stdout, "next: edgegw init --dir %s, then edgegw service start\n", dir)
	return nil
}

func serviceControl(verb string, stdout io.Writer) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("service manager: %w (run from an elevated prompt)", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return fmt.Errorf("the service %s is not installed (edgegw service install): %w", serviceName, err)
	}
	defer s.Close()
	switch verb {
	case "start":
		if err := s.Start(); err != nil {
			return fmt.Errorf("start %s: %w", serviceName, err)
		}
		if err := waitState(s, svc.Running); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s running\n", serviceName)
	case "stop":
		if err := stopService(s); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s stopped\n", serviceName)
	case "uninstall":
		if err := stopService(s); err != nil {
			return err
		}
		if err := s.Delete(); err != nil {
			return fmt.Errorf("delete the service %s: %w", serviceName, err)
		}
		if err := eventlog.Remove(serviceName); err != nil {
			fmt.Fprintf(stdout, "warning: event log source %s: %v\n", serviceName, err)
		}
		fmt.Fprintf(stdout, "removed the service %s; its configuration, key and state stay in %s\n", serviceName, programDataDir(os.Getenv))
	}
	return nil
}

// stopService stops s unless it is stopped already, and waits.
func stopService(s *mgr.Service) error {
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("query %s: %w", serviceName, err)
	}
	if st.State == svc.Stopped {
		return nil
	}
	if _, err := s.Control(svc.Stop); err != nil {
		return fmt.Errorf("stop %s: %w", serviceName, err)
	}
	return waitState(s, svc.Stopped)
}

func waitState(s *mgr.Service, want svc.State) error {
	deadline := time.Now().Add(serviceWait)
	for {
		st, err := s.Query()
		if err != nil {
			return fmt.Errorf("query %s: %w", serviceName, err)
		}
		if st.State == want {
			return nil
		}
		if st.State == svc.Stopped && want == svc.Running {
			return fmt.Errorf("%s stopped at start (exit code %d, service code %d): see the Application event log and %s",
				serviceName, st.Win32ExitCode, st.ServiceSpecificExitCode, filepath.Join(programDataDir(os.Getenv), "logs", "edgegw.log"))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not get there in %s", serviceName, serviceWait)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// serviceRun is what the service manager starts: the daemon, under svc.Run.
func serviceRun(cfgPath string) error {
	isService, err := svc.IsWindowsService()
	if err != nil {
		return err
	}
	if !isService {
		return usagef("edgegw service run is started by the service manager; in a console use edgegw run --config %s", cfgPath)
	}
	elog, err := eventlog.Open(serviceName)
	if err != nil {
		return err
	}
	defer elog.Close()
	h := &winService{cfgPath: cfgPath, events: elog}
	if err := svc.Run(serviceName, h); err != nil {
		elog.Error(eventID, "service: "+err.Error())
		return err
	}
	return nil
}

// winService adapts runService to the service manager.
type winService struct {
	cfgPath string
	events  *eventlog.Log
}

func (w *winService) Execute(_ []string, reqs <-chan svc.ChangeRequest, changes chan<- svc.Status) (bool, uint32) {
	cmds := make(chan svcCmd)
	stop := make(chan struct{})
	defer close(stop)
	go func() { // translate the manager's requests; ends with Execute
		for {
			select {
			case <-stop:
				return
			case r := <-reqs:
				var c svcCmd
				switch r.Cmd {
				case svc.Interrogate:
					c = svcInterrogate
				case svc.Stop, svc.Shutdown:
					c = svcStop
				default:
					continue
				}
				select {
				case cmds <- c:
				case <-stop:
					return
				}
			}
		}
	}()
	status := func(s svcState) {
		st := svc.Status{State: map[svcState]svc.State{svcStartPending: svc.StartPending, svcRunning: svc.Running,
			svcStopPending: svc.StopPending, svcStopped: svc.Stopped}[s]}
		switch s {
		case svcRunning:
			st.Accepts = svc.AcceptStop | svc.AcceptShutdown
		case svcStartPending, svcStopPending:
			st.WaitHint = uint32((shutdownGrace + 5*time.Second).Milliseconds())
		}
		if s != svcStopped { // Execute's return reports stopped
			changes <- st
		}
	}
	err := runService(w.run, cmds, status)
	if err != nil {
		w.events.Error(eventID, "edgegw stopped: "+err.Error())
		return true, 1
	}
	w.events.Info(eventID, "edgegw stopped")
	return false, 0
}

// run loads the configuration and runs the daemon with the service's logger.
func (w *winService) run(ctx context.Context) error {
	cfg, err := config.Load(w.cfgPath, protocols().tableCodecs()...)
	if err != nil {
		return err
	}
	logPath := filepath.Join(filepath.Dir(w.cfgPath), "logs", "edgegw.log")
	file, err := openRotating(logPath, serviceLogMaxBytes, serviceLogKeep)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	defer file.Close()
	log := serviceLogger(cfg.Log, file, w.events)
	for _, warn := range cfg.Warnings() {
		log.Warn(warn)
	}
	w.events.Info(eventID, fmt.Sprintf("edgegw %s starting: gateway %s, config %s, log %s", Version(), cfg.Gateway.ID, w.cfgPath, logPath))
	return daemon(ctx, protocols(), cfg, log, runOptions{})
}

var _ svc.Handler = (*winService)(nil)
