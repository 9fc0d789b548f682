### Los textos de vestibule en español (tratamiento de usted).

language-name = Español

## La página de espera

waiting-title-place = En la fila: puesto { $position }
waiting-title-next = En la fila: es casi su turno
waiting-title-drawn = En la fila: puesto sorteado en la apertura
waiting-heading = Está en la fila
waiting-why = { $order ->
    [arrival] En este momento muchas personas intentan entrar. Para que el sitio siga funcionando para todos, dejamos pasar a los visitantes poco a poco, por orden de llegada.
    [drawn] En este momento muchas personas intentan entrar. Para que el sitio siga funcionando para todos, dejamos pasar a los visitantes poco a poco, en el orden sorteado al abrir las puertas.
   *[none] En este momento muchas personas intentan entrar. Para que el sitio siga funcionando para todos, dejamos pasar a los visitantes poco a poco.
}
waiting-keep-open = Mantenga esta página abierta: le hará avanzar por sí sola, y conservará su puesto si la recarga.
waiting-close = Si cierra esta página, conservará su puesto en este navegador hasta { $ticket } después de entrar en la fila: vuelva a abrir esta dirección para continuar. Si le llega el turno mientras no está, vuelva en un plazo de { $turn } y entrará en cuanto quede una plaza libre.
waiting-refreshing = Esta página se actualiza sola cada pocos segundos para hacerle avanzar.
waiting-stop-refreshing = Dejar de actualizar
waiting-still = Esta página ya no se actualiza sola, y usted conserva su puesto.
waiting-check-now = Ver mi puesto ahora
waiting-refresh-again = Volver a actualizar automáticamente
waiting-other-tab = Este puesto en la fila se sigue ahora en otra pestaña de este navegador, así que esta pestaña ha dejado de comprobarlo. Puede cerrarla.
waiting-follow-here = Seguirlo en esta pestaña
waiting-opens = Apertura de puertas: { $time }. Tiempo restante: { $left }. Ya está en la fila: mantenga esta página abierta.
waiting-shuffle = Al abrir las puertas, se sortean los puestos de todas las personas que ya están en la fila: llegar antes o después hasta ese momento no cambia nada, y recargar la página no cambia su sorteo. Quienes lleguen después de la apertura se colocan detrás.
waiting-place-label = Su puesto en la fila
waiting-place-next = el siguiente
waiting-place-drawn = se sortea en la apertura
waiting-ahead = { $count ->
    [0] Nadie delante de usted
    [one] { $count } persona delante de usted
    [many] { $count } de personas delante de usted
   *[other] { $count } personas delante de usted
}
waiting-eta-label = Espera estimada
waiting-updated = Última actualización: { $time }.
waiting-estimate-source = La estimación se basa en lo rápido que ha avanzado la fila en los últimos minutos o, mientras aún no se ha movido, en la configuración de la sala.
waiting-languages = Idioma
waiting-plain = Está en la fila. Su puesto: { $place }. Esta página se actualiza sola.

## La espera estimada

eta-measuring = calculando…
eta-few-seconds = unos segundos
eta-under-minute = menos de un minuto
eta-minutes = { $minutes ->
    [one] alrededor de { $minutes } minuto
   *[other] unos { $minutes } minutos
}
eta-hours = unas { $hours } h { $minutes } min
eta-paused = la entrada está en pausa por ahora; conserva su puesto
eta-draw = se sabrá cuando se sorteen los puestos, al abrir las puertas

## Duraciones, escritas

time-hours = { $n ->
    [one] { $n } hora
   *[other] { $n } horas
}
time-minutes = { $n ->
    [one] { $n } minuto
   *[other] { $n } minutos
}
time-seconds = { $n ->
    [one] { $n } segundo
   *[other] { $n } segundos
}

## El campo `message` del JSON de estado, para aplicaciones

status-queued = Su puesto en la fila: { $position }. Espera estimada: { $eta }
status-next = Es casi su turno: en unos segundos quedará libre un puesto para usted.
status-prequeue = Apertura de puertas: { $time }. Su puesto en la fila: { $position }.
status-prequeue-drawn = Apertura de puertas: { $time }. Los puestos se sortean en la apertura.
status-admitted = Ya es su turno: vuelva a abrir la página para continuar.
status-closed = Acceso cerrado: { $room }.

## Páginas breves: errores y rechazos

message-retry = { $seconds ->
    [one] Puede volver a intentarlo dentro de { $seconds } segundo.
   *[other] Puede volver a intentarlo dentro de { $seconds } segundos.
}
message-try-again = Volver a intentarlo
closed-title = Acceso cerrado: { $room }
closed-text = Ahora mismo no hay acceso.
closed-not-sent = No se ha enviado nada.
refused-title = Está en la fila
refused-text = Su solicitud no se ha enviado al sitio: está en la fila, y el sitio atiende a los visitantes por turnos. No se ha enviado nada. Para conservar su puesto, vuelva a abrir esta dirección.
unavailable-title = Espere un momento, por favor
unavailable-text = La sala de espera necesita un momento. Si ya tiene un puesto en la fila, lo conserva; vuelva a intentarlo en un momento.
timeout-title = El sitio tarda demasiado
timeout-text = El sitio no ha respondido a tiempo. Vuelva a intentarlo en un momento.
unreachable-title = No se puede acceder al sitio
unreachable-text = No se ha podido conectar con el sitio. Vuelva a intentarlo en un momento.
incomplete-title = La solicitud estaba incompleta
incomplete-slow = Su navegador ha tardado demasiado en enviar la solicitud. Vuelva a intentarlo.
incomplete-cut = Su navegador no ha enviado la solicitud completa. Vuelva a intentarlo.
malformed-title = No se puede atender esta solicitud
malformed-coding = El contenido de la solicitud se envía de una forma que este sitio no acepta.
malformed-request = La dirección o las cabeceras de esta solicitud no son válidas.
not-found-title = Página no encontrada
not-found-text = Esta página no existe.
