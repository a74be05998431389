// Package wire is the byte level of poolside: block framing and the
// QDataStream (version Qt_4_2) codec of the Building Services protocol.
//
// Framing: a message is one block, a big-endian quint16 size followed by
// exactly that many bytes. ReadFrame reads the two size bytes, then exactly
// the block, and never asks its reader for a byte past the block, so a
// caller that reads frames one by one from a socket never consumes bytes
// that belong to the next reply. Uint32Framing is the same discipline with a
// 4-byte size and a configurable maximum, for users' own protocols.
//
// Codec: Encoder and Decoder write and read the QDataStream primitives
// (quint16, quint32, qint32, QString as UTF-16BE, QDate as a Julian Day
// Number). Request and Reply are the typed messages of the four actions and
// of ERROR, with Marshal and Unmarshal functions. A payload that does not
// parse gives a *ProtocolError naming the field and what is wrong; the
// framing around it stays intact, so a server can answer and keep the
// connection.
//
// wire is a leaf: it imports the standard library only, and does not log.
package wire
