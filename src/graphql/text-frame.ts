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
  let offset = headerLength + head.copy(frame, headerLength);
  for (const part of parts) offset += part.copy(frame, offset);
  return frame;
}
