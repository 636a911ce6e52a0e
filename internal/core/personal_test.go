package core

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestPersonalItemValues: a tune's rating is 1 to 10 (XEP-0118), a mood
// one of XEP-0107's values; errors speak of fields, not Go types.
func TestPersonalItemValues(t *testing.T) {
	for _, tc := range []struct {
		topic, data string
		ok          bool
	}{
		{TopicTune, `{"title":"x","rating":10}`, true},
		{TopicTune, `{"title":"x","rating":1}`, true},
		{TopicTune, `{"title":"x"}`, true},
		{TopicTune, `{"title":"x","rating":11}`, false},
		{TopicTune, `{"title":"x","rating":-1}`, false},
		{TopicTune, `{"title":"x","length":-5}`, false},
		{TopicMood, `{"mood":"happy"}`, true},
		{TopicMood, `{"mood":"in_love"}`, true},
		{TopicMood, `{"mood":"undefined"}`, true},
		{TopicMood, `{"text":"no mood, just words"}`, true},
		{TopicMood, `{}`, true},
		{TopicMood, `{"mood":"busy"}`, false},
		{TopicMood, `{"mood":"hapy"}`, false},
	} {
		_, err := CanonicalItem(tc.topic, json.RawMessage(tc.data))
		if (err == nil) != tc.ok {
			t.Errorf("%s %s: %v", tc.topic, tc.data, err)
		}
	}
	_, err := CanonicalItem(TopicTune, json.RawMessage(`{"rating":"great"}`))
	if err == nil || !strings.Contains(err.Error(), "rating must be a whole number") || strings.Contains(err.Error(), "TuneItem") {
		t.Errorf("type error: %v", err)
	}
}
