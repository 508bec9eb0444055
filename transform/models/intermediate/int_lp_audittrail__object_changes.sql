{#-
  Each change with its place in its object's history and in its property's. An object is an
  objectType and an objectName (the API has no object id); a property is an object's element.
  Changes of one instant are ordered by change_id: the API gives them no order of their own.
-#}

with changes as (

    select * from {{ ref('stg_lp_audittrail__changes') }}

)

select
    changes.*,
    {{ lp_audittrail_key(['object_type', 'object_name']) }} as object_id,
    row_number() over (
        partition by object_type, object_name order by changed_at, change_id
    ) as object_change_number,
    lead(changed_at) over (
        partition by object_type, object_name order by changed_at, change_id
    ) as next_object_change_at,
    row_number() over (
        partition by object_type, object_name order by changed_at desc, change_id desc
    ) = 1 as is_latest_object_change,
    row_number() over (
        partition by object_type, object_name, element order by changed_at, change_id
    ) as element_change_number,
    lead(changed_at) over (
        partition by object_type, object_name, element order by changed_at, change_id
    ) as next_element_change_at,
    row_number() over (
        partition by object_type, object_name, element order by changed_at desc, change_id desc
    ) = 1 as is_latest_element_change
from changes
