package hubtest

import (
	"context"
	"fmt"
	"sync"

	"roomhub"
)

// MemberStore is an in-memory hub.MemberStore for hub tests that are about
// sockets and buses, not databases (the SQL store has its own suite).
type MemberStore struct {
	mu      sync.Mutex
	members map[string]roomhub.Member
	// Fail, when set, is returned by PutMember: a database that is down.
	Fail error
}

// NewMemberStore returns an empty store.
func NewMemberStore() *MemberStore { return &MemberStore{members: map[string]roomhub.Member{}} }

func memberKey(org int64, room string, uid uint32) string {
	return fmt.Sprint(org, "/", room, "/", uid)
}

func (s *MemberStore) PutMember(_ context.Context, m roomhub.Member) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return false, s.Fail
	}
	k := memberKey(m.OrgID, m.Room, m.UID)
	_, ok := s.members[k]
	s.members[k] = m
	return !ok, nil
}

func (s *MemberStore) GetMember(_ context.Context, org int64, room string, uid uint32) (roomhub.Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.members[memberKey(org, room, uid)]
	if !ok {
		return m, roomhub.Errorf(roomhub.ENOTFOUND, "Member not found.")
	}
	return m, nil
}

func (s *MemberStore) DeleteMember(_ context.Context, org int64, room string, uid uint32) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memberKey(org, room, uid)
	_, ok := s.members[k]
	delete(s.members, k)
	return ok, nil
}

// Has reports whether the member is stored.
func (s *MemberStore) Has(org int64, room string, uid uint32) bool {
	_, err := s.GetMember(context.Background(), org, room, uid)
	return err == nil
}
