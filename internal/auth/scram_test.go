package auth

import (
	"crypto/hmac"
	"encoding/base64"
	"hash"
	"testing"
)

// TestScramRFCExamples checks DeriveScram against the worked examples of
// RFC 5802 § 5 (SCRAM-SHA-1) and RFC 7677 § 3 (SCRAM-SHA-256): from the
// stored credentials the server must verify the client's proof and produce
// the server signature printed in the RFCs.
func TestScramRFCExamples(t *testing.T) {
	for _, ex := range []struct {
		mech, salt, clientFirstBare, serverFirst, clientFinalNoProof, proof, serverSig string
	}{{
		ScramSHA1, "QSXCR+Q6sek8bf92",
		"n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
		"v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	}, {
		ScramSHA256, "W22ZaJ0SNY7soEsUEjb6gQ==",
		"n=user,r=rOprNGfwEbeRWgbNEkqO",
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		"dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	}} {
		t.Run(ex.mech, func(t *testing.T) {
			salt, _ := base64.StdEncoding.DecodeString(ex.salt)
			stored, server := DeriveScram(ex.mech, "pencil", salt, 4096)
			h := ScramHash(ex.mech)
			authMessage := ex.clientFirstBare + "," + ex.serverFirst + "," + ex.clientFinalNoProof
			// RFC 5802 § 3: ClientKey = proof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) must be StoredKey
			proof, _ := base64.StdEncoding.DecodeString(ex.proof)
			clientSig := mac(h, stored, authMessage)
			clientKey := make([]byte, len(proof))
			for i := range proof {
				clientKey[i] = proof[i] ^ clientSig[i]
			}
			sum := h()
			sum.Write(clientKey)
			if !hmac.Equal(sum.Sum(nil), stored) {
				t.Fatal("the RFC's client proof does not verify against the stored key")
			}
			if got := base64.StdEncoding.EncodeToString(mac(h, server, authMessage)); got != ex.serverSig {
				t.Fatalf("server signature %s, want %s", got, ex.serverSig)
			}
		})
	}
}

func mac(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
