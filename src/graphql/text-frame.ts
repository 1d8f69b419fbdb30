/**
 * One final, unmasked WebSocket text frame (RFC 6455 §5.2) carrying `head` then `body` (or its parts, in
 * order): what a server sends, built in one buffer so the socket takes it in one write.
 */
export function textFrame(head: Buffer, body: Buffer | readonly Buffer[]): Buffer {
  const parts = Buffer.isBuffer(body) ? [body] : body;
  let length = head.length;
  for (const part of parts) length += part.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81; // FIN, opcode 1 (text)
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  // set() rather than copy(): this runs once per delivery, and copy() re-validates its arguments each time.
  frame.set(head, headerLength);
  let offset = headerLength + head.length;
  for (const part of parts) {
    frame.set(part, offset);
    offset += part.length;
  }
  return frame;
}
