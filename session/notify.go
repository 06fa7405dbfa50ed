package session

// persist hands a copy of the state to Config.Persist.
func (s *Session) persist() {
	if s.cfg.Persist == nil {
		return
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	s.mu.Lock()
	snap := s.st.Clone()
	s.mu.Unlock()
	s.cfg.Persist(snap)
}
