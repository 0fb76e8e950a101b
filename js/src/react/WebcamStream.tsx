import { useEffect, useRef, useState, type CSSProperties, type ReactNode } from "react";

import { useReactorStore } from "./hooks.js";
import type { ObjectFit } from "./ReactorView.js";

export interface WebcamStreamProps {
  track: string;
  videoConstraints?: MediaTrackConstraints;
  audio?: boolean;
  audioTrack?: string;
  showWebcam?: boolean;
  videoObjectFit?: ObjectFit;
  className?: string;
  style?: CSSProperties;
  onPermissionDenied?: (error: unknown) => void;
  onPublished?: () => void;
  onError?: (error: unknown) => void;
}

const DEFAULT_CONSTRAINTS: MediaTrackConstraints = { width: { ideal: 1280 }, height: { ideal: 720 } };

/** Captures the camera and publishes it on `track` whenever the client is ready. */
export function WebcamStream({
  track,
  videoConstraints = DEFAULT_CONSTRAINTS,
  audio = false,
  audioTrack,
  showWebcam = true,
  videoObjectFit = "contain",
  className,
  style,
  onPermissionDenied,
  onPublished,
  onError,
}: WebcamStreamProps): ReactNode {
  const status = useReactorStore((s) => s.status);
  const reactor = useReactorStore((s) => s.internal.reactor);
  const [stream, setStream] = useState<MediaStream | null>(null);
  const [denied, setDenied] = useState(false);
  const preview = useRef<HTMLVideoElement>(null);
  const callbacks = useRef({ onPermissionDenied, onPublished, onError });
  callbacks.current = { onPermissionDenied, onPublished, onError };

  useEffect(() => {
    let cancelled = false;
    let captured: MediaStream | null = null;
    navigator.mediaDevices
      .getUserMedia({ video: videoConstraints, audio })
      .then((s) => {
        if (cancelled) {
          s.getTracks().forEach((t) => t.stop());
          return;
        }
        captured = s;
        setStream(s);
      })
      .catch((error: unknown) => {
        if (cancelled) return;
        const name = error instanceof DOMException ? error.name : "";
        if (name === "NotAllowedError" || name === "SecurityError") {
          setDenied(true);
          callbacks.current.onPermissionDenied?.(error);
        } else {
          callbacks.current.onError?.(error);
        }
      });
    return () => {
      cancelled = true;
      captured?.getTracks().forEach((t) => t.stop());
      setStream(null);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [JSON.stringify(videoConstraints), audio]);

  useEffect(() => {
    if (preview.current) preview.current.srcObject = stream;
  }, [stream, showWebcam]);

  useEffect(() => {
    if (status !== "ready" || stream === null) return;
    const videoTrack = stream.getVideoTracks()[0];
    const micTrack = audioTrack !== undefined ? stream.getAudioTracks()[0] : undefined;
    if (!videoTrack) return;
    let active = true;
    const publishing = Promise.all([
      reactor.publishTrack(track, videoTrack),
      ...(micTrack && audioTrack ? [reactor.publishTrack(audioTrack, micTrack)] : []),
    ]);
    publishing.then(
      () => active && callbacks.current.onPublished?.(),
      (error: unknown) => active && callbacks.current.onError?.(error),
    );
    return () => {
      active = false;
      void reactor.unpublishTrack(track);
      if (audioTrack !== undefined) void reactor.unpublishTrack(audioTrack);
    };
  }, [status, stream, reactor, track, audioTrack]);

  if (!showWebcam) return null;
  return (
    <div className={className} style={style}>
      {denied ? (
        <div style={{ width: "100%", height: "100%", background: "#222" }} aria-label="camera unavailable" />
      ) : (
        <video ref={preview} autoPlay playsInline muted style={{ width: "100%", height: "100%", objectFit: videoObjectFit, display: "block" }} />
      )}
    </div>
  );
}
